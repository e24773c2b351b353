package exchange_test

// End-to-end tests of the exchange Function: the real handler binary, driven as
// the Functions host drives it, against the Entra emulator and real Azurite.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/dev/stack"
	"github.com/addinsso/addinsso/handler/problem"
)

const (
	clientID = stack.ClientID
	secret   = stack.Secret
)

var newUser = stack.NewUser

type result struct {
	status int
	header http.Header
	body   string
	ok     struct {
		Scopes    []string
		ExpiresAt time.Time
		Source    string
		FromCache bool
	}
	prob problem.Body
}

func callExchange(t *testing.T, h *funchost.Handler, tok, body string) result {
	t.Helper()
	req, _ := http.NewRequest("POST", h.URL+"/api/exchange", strings.NewReader(body))
	if tok != "" {
		req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode == 200 {
		json.Unmarshal(b, &r.ok)
	} else {
		json.Unmarshal(b, &r.prob)
	}
	return r
}

// signOut posts to /api/signout with tok.
func signOut(t *testing.T, h *funchost.Handler, tok string) {
	t.Helper()
	req, _ := http.NewRequest("POST", h.URL+"/api/signout", nil)
	req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("signout: %d", resp.StatusCode)
	}
}

func TestExchange(t *testing.T) {
	e := stack.New(t)
	h := e.Start(t, nil)
	alice, bob := newUser("alice"), newUser("bob")
	issue := func(u entra.User) string { return e.Entra.Issue(u, clientID, entra.Token{}) }

	aliceTok := issue(alice)

	t.Run("first call exchanges, then the cache answers the same session", func(t *testing.T) {
		r := callExchange(t, h, aliceTok, `{"scopes":["user.read"]}`)
		if r.status != 200 || r.ok.Source != "entra" || r.ok.FromCache || len(r.ok.Scopes) != 1 || r.ok.Scopes[0] != "User.Read" ||
			time.Until(r.ok.ExpiresAt) < 30*time.Minute {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
		if strings.Contains(r.body, "eyJ") || strings.Contains(r.body, "access_token") {
			t.Fatal("the answer carries a token")
		}
		if r := callExchange(t, h, aliceTok, `{"scopes":["User.Read"]}`); r.status != 200 || r.ok.Source != "table" || !r.ok.FromCache {
			t.Fatalf("second (the same bootstrap token): %d %s", r.status, r.body)
		}
		if n := e.Entra.TokenRequests(alice.ObjectID); n != 1 {
			t.Errorf("OBO requests for alice = %d, want 1", n)
		}
		// Another session of the same user makes its own exchange: Entra
		// evaluates Conditional Access for each.
		if r := callExchange(t, h, issue(alice), `{"scopes":["User.Read"]}`); r.status != 200 || r.ok.Source != "entra" {
			t.Fatalf("another session: %d %s", r.status, r.body)
		}
		// Another user never gets alice's entry: bob costs his own exchange.
		if r := callExchange(t, h, issue(bob), `{"scopes":["User.Read"]}`); r.status != 200 || r.ok.Source != "entra" {
			t.Fatalf("bob: %d %s", r.status, r.body)
		}
		if n := e.Entra.TokenRequests(bob.ObjectID); n != 1 {
			t.Errorf("OBO requests for bob = %d, want 1", n)
		}
		// Another scope set is another entry; no body means every configured scope.
		if r := callExchange(t, h, aliceTok, ""); r.status != 200 || r.ok.Source != "entra" || len(r.ok.Scopes) != 2 {
			t.Fatalf("all scopes: %d %s", r.status, r.body)
		}
	})

	t.Run("another instance reads the table, and a sign-out on one holds on both", func(t *testing.T) {
		h2 := e.Start(t, nil)
		before := e.Entra.TokenRequests(alice.ObjectID)
		for range 2 {
			if r := callExchange(t, h2, aliceTok, `{"scopes":["User.Read"]}`); r.status != 200 || r.ok.Source != "table" {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
		if e.Entra.TokenRequests(alice.ObjectID) != before {
			t.Error("the table hit cost an OBO request")
		}
		signOut(t, h, aliceTok)
		if r := callExchange(t, h2, aliceTok, `{"scopes":["User.Read"]}`); r.status != 200 || r.ok.Source != "entra" {
			t.Fatalf("the other instance after sign-out: %d %s", r.status, r.body)
		}
	})

	// The attack review's Conditional Access bypass: Outlook on the web's
	// session (MFA) fills the cache; Outlook desktop's session of the same
	// user (no MFA) must still meet Entra's MFA policy, on this instance and
	// on another one reading the table.
	t.Run("a session without MFA does not ride another session's MFA", func(t *testing.T) {
		maya := newUser("maya")
		e.Entra.Script(maya.ObjectID, entra.Outcome{Kind: entra.MFARequired})
		web := e.Entra.Issue(maya, clientID, entra.Token{Version: "1.0", AMR: []string{"pwd", "mfa"}})
		desktop := e.Entra.Issue(maya, clientID, entra.Token{Version: "1.0", AMR: []string{"pwd"}})
		if r := callExchange(t, h, web, ""); r.status != 200 || r.ok.Source != "entra" {
			t.Fatalf("web session (MFA): %d %s", r.status, r.body)
		}
		for _, inst := range []*funchost.Handler{h, e.Start(t, nil)} {
			if r := callExchange(t, inst, desktop, ""); r.status != 401 || r.prob.Code != problem.ClaimsChallenge {
				t.Fatalf("desktop session (no MFA): %d %s", r.status, r.body)
			}
		}
		if r := callExchange(t, h, web, ""); r.status != 200 || r.ok.Source != "table" {
			t.Fatalf("web session again: %d %s", r.status, r.body)
		}
	})

	t.Run("the timer-triggered sweep removes expired rows only", func(t *testing.T) {
		svc, err := aztables.NewServiceClientFromConnectionString(e.Table.ConnectionString(), nil)
		if err != nil {
			t.Fatal(err)
		}
		table := svc.NewClient("graphtokens")
		gone := stack.Tenant + "_" + entra.NewGUID()
		expired, _ := json.Marshal(map[string]any{
			"PartitionKey": gone, "RowKey": "r", "KeyID": "k1",
			"ExpiresAt@odata.type": "Edm.DateTime", "ExpiresAt": time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.0000000Z"),
		})
		if _, err := table.AddEntity(context.Background(), expired, nil); err != nil {
			t.Fatal(err)
		}
		live := rowsOf(t, e, alice)
		// The Functions host invokes a timer Function as POST /<name> with a
		// JSON payload, and reads Outputs, Logs and ReturnValue back.
		resp, err := http.Post(h.URL+"/sweep", "application/json", strings.NewReader(`{"Data":{"timer":{"IsPastDue":false}},"Metadata":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Outputs map[string]any
			Logs    []string
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || out.Outputs == nil || len(out.Logs) != 1 || !strings.Contains(out.Logs[0], "removed") {
			t.Fatalf("sweep: %d %+v %v", resp.StatusCode, out, err)
		}
		if _, err := table.GetEntity(context.Background(), gone, "r", nil); err == nil {
			t.Error("the expired row is still there")
		}
		if n := rowsOf(t, e, alice); n != live || n == 0 {
			t.Errorf("alice's live rows: %d after the sweep, %d before", n, live)
		}
	})

	t.Run("sign-out removes every cached Graph token of the user", func(t *testing.T) {
		sam := newUser("sam")
		one, two := issue(sam), issue(sam)
		for _, tok := range []string{one, two} {
			if r := callExchange(t, h, tok, ""); r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
		}
		if n := rowsOf(t, e, sam); n != 2 {
			t.Fatalf("%d rows for sam before sign-out, want 2", n)
		}
		before := e.Entra.TokenRequests(sam.ObjectID)
		signOut(t, h, one)
		if n := rowsOf(t, e, sam); n != 0 {
			t.Errorf("%d rows for sam after sign-out, want 0", n)
		}
		// The next call finds nothing cached and asks Entra (MSAL's cache is
		// never read), which exchanges the same bootstrap token anyway until it
		// expires: signing out does not revoke it at Entra.
		if r := callExchange(t, h, one, ""); r.status != 200 || r.ok.Source != "entra" || e.Entra.TokenRequests(sam.ObjectID) != before+1 {
			t.Fatalf("after sign-out: %d %s", r.status, r.body)
		}
		if n := rowsOf(t, e, alice); n == 0 {
			t.Error("sign-out removed another user's rows")
		}
	})

	t.Run("the table holds no readable token", func(t *testing.T) {
		issued := e.Entra.IssuedAccessTokens()
		if len(issued) < 3 {
			t.Fatalf("the emulator issued %d Graph tokens, want at least 3", len(issued))
		}
		svc, err := aztables.NewServiceClientFromConnectionString(e.Table.ConnectionString(), nil)
		if err != nil {
			t.Fatal(err)
		}
		pager := svc.NewClient("graphtokens").NewListEntitiesPager(nil)
		rows := 0
		for pager.More() {
			page, err := pager.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range page.Entities {
				rows++
				if leak := readableToken(row, issued); leak != "" {
					t.Errorf("a row holds %s: %.200s", leak, row)
				}
			}
		}
		if rows < 3 {
			t.Errorf("%d rows, want at least 3", rows)
		}
	})

	t.Run("100 concurrent first calls make one OBO request", func(t *testing.T) {
		carol := newUser("carol")
		e.Entra.Script(carol.ObjectID, entra.Outcome{Delay: 200 * time.Millisecond}) // keep the flight open
		tok := issue(carol)                                                          // one session: a burst of calls from one task pane
		var wg sync.WaitGroup
		statuses := make(chan int, 100)
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses <- callExchange(t, h, tok, `{"scopes":["Mail.Read"]}`).status
			}()
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			if s != 200 {
				t.Fatalf("status %d", s)
			}
		}
		if n := e.Entra.TokenRequests(carol.ObjectID); n != 1 {
			t.Errorf("OBO requests = %d, want 1", n)
		}
	})
}

// Each Entra outcome reaches the task pane as the error contract says.
func TestExchangeClassification(t *testing.T) {
	e := stack.New(t)
	h := e.Start(t, nil)
	tests := []struct {
		name    string
		outcome entra.Outcome
		status  int
		code    problem.Code
		action  problem.Action
	}{
		{"consent missing", entra.Outcome{Kind: entra.ConsentMissing}, 403, problem.ConsentRequired, problem.Consent},
		{"mfa required", entra.Outcome{Kind: entra.MFARequired}, 401, problem.ClaimsChallenge, problem.AuthChallenge},
		{"assertion expired", entra.Outcome{Kind: entra.AssertionExpired}, 401, problem.TokenExpired, problem.RetrySSO},
		{"throttled", entra.Outcome{Kind: entra.Throttled, RetryAfter: 7 * time.Second}, 503, problem.UpstreamUnavailable, problem.RetryLater},
		{"down", entra.Outcome{Kind: entra.Unavailable}, 503, problem.UpstreamUnavailable, problem.RetryLater},
		{"bad client credential", entra.Outcome{Kind: entra.InvalidClient}, 500, problem.ServerMisconfigured, problem.Fatal},
		{"blocked by policy", entra.Outcome{Kind: entra.BlockedByPolicy}, 403, problem.BlockedByPolicy, problem.Fatal},
		{"device not compliant", entra.Outcome{Kind: entra.DeviceNotCompliant}, 401, problem.InteractionRequired, problem.SignIn},
		{"MFA registration needed", entra.Outcome{Kind: entra.MFARegistrationNeeded}, 401, problem.InteractionRequired, problem.SignIn},
		{"grant revoked", entra.Outcome{Kind: entra.GrantRevoked}, 401, problem.InteractionRequired, problem.SignIn},
		{"sign-in frequency", entra.Outcome{Kind: entra.SignInFrequency}, 401, problem.InteractionRequired, problem.SignIn},
		{"admin consent required", entra.Outcome{Kind: entra.AdminConsentRequired}, 403, problem.AdminConsentRequired, problem.Fatal},
		{"consent by suberror", entra.Outcome{Kind: entra.ConsentRequired}, 403, problem.ConsentRequired, problem.Consent},
		{"loop detected", entra.Outcome{Kind: entra.LoopDetected}, 429, problem.UpstreamUnavailable, problem.RetryLater},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser("u")
			e.Entra.Script(u.ObjectID, tt.outcome)
			tok := e.Entra.Issue(u, clientID, entra.Token{})
			r := callExchange(t, h, tok, "")
			if r.status != tt.status || r.prob.Code != tt.code || r.prob.Action != tt.action {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if strings.Contains(r.body, tok) || strings.Contains(r.body, secret) || strings.Contains(r.body, "trace_id") {
				t.Error("the problem carries a token, a secret or Entra's raw answer")
			}
			if tt.action == problem.RetryLater && r.header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
			if tt.name == "throttled" && r.header.Get("Retry-After") != "7" {
				t.Errorf("Retry-After %q, want Entra's 7", r.header.Get("Retry-After"))
			}
			if tt.code == problem.ClaimsChallenge {
				if r.prob.Claims != entra.DefaultMFAClaims || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_claims"`) {
					t.Errorf("claims %q, WWW-Authenticate %q", r.prob.Claims, r.header.Get("WWW-Authenticate"))
				}
				// The claims alone, with the same token, change nothing: only
				// the user can step up.
				body, _ := json.Marshal(map[string]string{"claims": r.prob.Claims})
				if r := callExchange(t, h, tok, string(body)); r.status != 401 || r.prob.Code != problem.ClaimsChallenge {
					t.Fatalf("the same token with claims: %d %s", r.status, r.body)
				}
				// The task pane answers the challenge: Office (here the
				// emulator) prompts for MFA and issues a new token with the
				// claims, which exchanges.
				stepped := e.Entra.IssueFor(u, clientID, entra.Token{}, r.prob.Claims)
				if r := callExchange(t, h, stepped, string(body)); r.status != 200 || r.ok.Source != "entra" {
					t.Fatalf("the stepped-up token: %d %s", r.status, r.body)
				}
			}
		})
	}

	t.Run("wrong client secret", func(t *testing.T) {
		bad := e.Start(t, map[string]string{"ADDIN_CLIENT_SECRET": "not-the-secret"})
		r := callExchange(t, bad, e.Entra.Issue(newUser("u"), clientID, entra.Token{}), "")
		if r.status != 500 || r.prob.Code != problem.ServerMisconfigured || strings.Contains(r.body, "not-the-secret") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if strings.Contains(bad.Logs(), "not-the-secret") {
			t.Error("the secret reached the logs")
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		tok := e.Entra.Issue(newUser("u"), clientID, entra.Token{})
		for _, tt := range []struct {
			body, contentType string
			status            int
			code              problem.Code
		}{
			{`{"scopes":["Files.ReadWrite.All"]}`, "application/json", 400, problem.BadRequest},
			{`{"scopes":"User.Read"}`, "application/json", 400, problem.BadRequest},
			{`{"scope":["User.Read"]}`, "application/json", 400, problem.BadRequest},
			{`{"scopes":[]} {}`, "application/json", 400, problem.BadRequest},
			{`scopes=User.Read`, "application/x-www-form-urlencoded", 415, problem.UnsupportedMediaType},
			{`{"claims":"` + strings.Repeat("x", 20<<10) + `"}`, "application/json", 413, problem.RequestTooLarge},
			{`{"claims":"not a claims object"}`, "application/json", 400, problem.BadRequest},
		} {
			req, _ := http.NewRequest("POST", h.URL+"/api/exchange", strings.NewReader(tt.body))
			req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var p problem.Body
			json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if resp.StatusCode != tt.status || p.Code != tt.code {
				t.Errorf("%.40s: %d %s, want %d %s", tt.body, resp.StatusCode, p.Code, tt.status, tt.code)
			}
		}
		if r := callExchange(t, h, "", ""); r.status != 401 || r.prob.Code != problem.MissingToken {
			t.Errorf("no token: %d %s", r.status, r.body)
		}
	})
}

// With Azurite gone mid-run, exchange keeps working from memory and OBO, and a
// cache fault never becomes a 5xx.
func TestExchangeSurvivesTableOutage(t *testing.T) {
	e := stack.New(t)
	h := e.Start(t, nil)
	dave, erin := newUser("dave"), newUser("erin")
	session := map[string]string{dave.ObjectID: e.Entra.Issue(dave, clientID, entra.Token{}), erin.ObjectID: e.Entra.Issue(erin, clientID, entra.Token{})}
	if r := callExchange(t, h, session[dave.ObjectID], ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if err := e.Table.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i, tc := range []struct {
		user   entra.User
		source string
	}{{dave, "memory"}, {erin, "entra"}, {erin, "memory"}} {
		r := callExchange(t, h, session[tc.user.ObjectID], "")
		if r.status != 200 || r.ok.Source != tc.source {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
	}
	t.Logf("three calls with the table down took %v", time.Since(start))
	if !h.Alive() {
		t.Fatal("handler died")
	}
}

// readableToken names what of a Graph token a stored row gives away: one of
// the tokens the emulator issued (its signed part), as it is or in any of the
// row's values decoded from base64, or there a JOSE header or JWT claim name. Random
// ciphertext decodes to neither, so the check cannot fail by chance.
func readableToken(row []byte, issued []string) string {
	holdsIssued := func(b []byte) bool {
		for _, tok := range issued {
			if strings.Contains(string(b), tok[:strings.LastIndexByte(tok, '.')]) {
				return true
			}
		}
		return false
	}
	if holdsIssued(row) {
		return "an issued Graph token"
	}
	var values map[string]any
	if err := json.Unmarshal(row, &values); err != nil {
		return "something that is not JSON"
	}
	for name, v := range values {
		s, ok := v.(string)
		if !ok {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			b, err := enc.DecodeString(s)
			if err != nil {
				continue
			}
			if holdsIssued(b) {
				return "an issued Graph token, base64-encoded, in " + name
			}
			for _, jose := range []string{`"alg"`, `"typ"`, `"kid"`, `"oid"`, `"scp"`} {
				if strings.Contains(string(b), jose) {
					return "a readable JWT part in " + name
				}
			}
		}
	}
	return ""
}

// TestReadableTokenCatchesLeaks: the row check above fails on the leaks it
// is there for, and passes sealed random bytes.
func TestReadableTokenCatchesLeaks(t *testing.T) {
	tok := "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2ln"
	sealed := make([]byte, 4096)
	for i := range sealed {
		sealed[i] = byte(i*131 + i/7)
	}
	for _, tt := range []struct {
		name string
		row  map[string]any
		leak bool
	}{
		{"the token in the clear", map[string]any{"Data": tok}, true},
		{"the token as binary", map[string]any{"Data": base64.StdEncoding.EncodeToString([]byte(tok))}, true},
		{"another JWT's header as binary", map[string]any{"Data": base64.StdEncoding.EncodeToString([]byte(`{"alg":"RS256"}`))}, true},
		{"ciphertext", map[string]any{"Data": base64.StdEncoding.EncodeToString(sealed), "KeyID": "k1"}, false},
	} {
		row, _ := json.Marshal(tt.row)
		if got := readableToken(row, []string{tok}) != ""; got != tt.leak {
			t.Errorf("%s: leak reported %v, want %v", tt.name, got, tt.leak)
		}
	}
}

// rowsOf counts the user's rows in the token cache's table: their partition.
func rowsOf(t *testing.T, e *stack.Stack, u entra.User) int {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(e.Table.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	filter := fmt.Sprintf("PartitionKey eq '%s_%s'", u.TenantID, u.ObjectID)
	pager := svc.NewClient("graphtokens").NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	n := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Entities)
	}
	return n
}

// TestMFAPolicies plays ADDIN_MFA_POLICY through the real binary against the
// Entra emulator: acrs has a step-up Entra documents, which works end to end;
// amr has none, so it is answered for an administrator, never as a challenge
// the pane would answer in vain.
func TestMFAPolicies(t *testing.T) {
	e := stack.New(t)

	t.Run("acrs: the documented step-up, end to end", func(t *testing.T) {
		h := e.Start(t, map[string]string{"ADDIN_MFA_POLICY": "acrs:c1"})
		u := newUser("ada")
		if err := e.Entra.DefineAuthContext(u.TenantID, "c1"); err != nil {
			t.Fatal(err)
		}
		tok := e.Entra.Issue(u, clientID, entra.Token{})
		r := callExchange(t, h, tok, "")
		if r.status != 401 || r.prob.Code != problem.MFARequired || r.prob.Action != problem.AuthChallenge ||
			r.prob.Claims != `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}` {
			t.Fatalf("without the context: %d %s", r.status, r.body)
		}
		stepped := e.Entra.IssueFor(u, clientID, entra.Token{}, r.prob.Claims)
		if r := callExchange(t, h, stepped, ""); r.status != 200 {
			t.Fatalf("after the step-up: %d %s", r.status, r.body)
		}
	})

	t.Run("amr: no challenge Entra would ignore; an administrator's fix instead", func(t *testing.T) {
		h := e.Start(t, map[string]string{"ADDIN_MFA_POLICY": "amr"})
		u := newUser("otto")
		desktop := e.Entra.Issue(u, clientID, entra.Token{Version: "1.0", AMR: []string{"pwd"}})
		r := callExchange(t, h, desktop, "")
		if r.status != 403 || r.prob.Code != problem.MFAMissing || r.prob.Action != problem.Fatal || r.prob.Claims != "" ||
			strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_claims") || !strings.Contains(r.prob.Detail, "Conditional Access") {
			t.Fatalf("desktop token without mfa: %d %s", r.status, r.body)
		}
		// What the old challenge asked for: Entra does not honour it, so the
		// pane would have looped on the same answer.
		again := e.Entra.IssueFor(u, clientID, entra.Token{Version: "1.0", AMR: []string{"pwd"}}, `{"access_token":{"amr":{"essential":true,"values":["mfa"]}}}`)
		if r := callExchange(t, h, again, ""); r.status != 403 || r.prob.Code != problem.MFAMissing {
			t.Fatalf("after an amr claims request: %d %s", r.status, r.body)
		}
		for _, amr := range [][]string{{"pwd", "mfa"}, {"ngcmfa"}} {
			if r := callExchange(t, h, e.Entra.Issue(u, clientID, entra.Token{Version: "1.0", AMR: amr}), ""); r.status != 200 {
				t.Fatalf("amr %v: %d %s", amr, r.status, r.body)
			}
		}
	})
}
