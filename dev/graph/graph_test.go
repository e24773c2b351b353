package graph_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/graph"
)

var (
	idp *entra.Server
	emu *graph.Server
)

func TestMain(m *testing.M) {
	var err error
	if idp, err = entra.Start(nil); err != nil {
		panic(err)
	}
	if emu, err = graph.Start(idp.CA, idp.VerifyIssued); err != nil {
		panic(err)
	}
	code := m.Run()
	emu.Close()
	idp.Close()
	os.Exit(code)
}

func newUser(name string) entra.User {
	first, _, _ := strings.Cut(name, " ")
	return entra.User{TenantID: entra.NewGUID(), ObjectID: entra.NewGUID(), Name: name, Username: strings.ToLower(first) + "@contoso.example"}
}

func graphToken(u entra.User, scopes string, claims map[string]any) string {
	return idp.Issue(u, graph.ResourceURL, entra.Token{Scopes: scopes, Claims: claims})
}

func get(t *testing.T, path, tok string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, emu.URL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := emu.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

type odataError struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

func decodeError(t *testing.T, b []byte) odataError {
	t.Helper()
	var e odataError
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.InnerError.RequestID == "" || e.Error.InnerError.Date == "" {
		t.Fatalf("not Graph's error object: %s", b)
	}
	return e
}

func TestAuthentication(t *testing.T) {
	alice := newUser("Alice Smith")
	expired := idp.Issue(alice, graph.ResourceURL, entra.Token{Scopes: "User.Read", IssuedAt: time.Now().Add(-2 * time.Hour)})
	tests := []struct {
		name   string
		token  string
		status int
		code   string
		msg    string
	}{
		{"no token", "", 401, "InvalidAuthenticationToken", "Access token is empty."},
		{"not a JWT", "abc", 401, "InvalidAuthenticationToken", "CompactToken parsing failed"},
		{"expired", expired, 401, "InvalidAuthenticationToken", "expired"},
		{"add-in audience", idp.Issue(alice, "11111111-2222-4333-8444-555555555555", entra.Token{Scopes: "User.Read"}), 401, "InvalidAuthenticationToken", "Invalid audience"},
		{"app-only", graphToken(alice, "User.Read", map[string]any{"scp": nil, "roles": []string{"User.Read.All"}}), 400, "InvalidAuthenticationToken", "delegated"},
		{"missing scope", graphToken(alice, "Mail.Read", nil), 403, "Authorization_RequestDenied", "Insufficient privileges"},
		{"Graph app ID audience", idp.Issue(alice, graph.AppID, entra.Token{Scopes: "User.Read"}), 200, "", ""},
		{"emulator URL audience", idp.Issue(alice, emu.URL, entra.Token{Scopes: "User.Read"}), 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := get(t, "/v1.0/me", tt.token, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.code == "" {
				return
			}
			e := decodeError(t, b)
			if e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.msg) {
				t.Errorf("error %+v, want %s containing %q", e.Error, tt.code, tt.msg)
			}
			if tt.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm=""`) {
				t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestMe(t *testing.T) {
	alice := newUser("Alice Smith")
	resp, b := get(t, "/v1.0/me", graphToken(alice, "openid User.Read", nil), map[string]string{"client-request-id": "0f0e0d0c-0b0a-4908-8706-050403020100"})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var me map[string]any
	if err := json.Unmarshal(b, &me); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": alice.ObjectID, "displayName": "Alice Smith", "givenName": "Alice", "surname": "Smith",
		"userPrincipalName": alice.Username, "mail": alice.Username, "@odata.context": emu.URL + "/v1.0/$metadata#users/$entity"}
	for k, v := range want {
		if me[k] != v {
			t.Errorf("%s = %v, want %v", k, me[k], v)
		}
	}
	if resp.Header.Get("client-request-id") != "0f0e0d0c-0b0a-4908-8706-050403020100" || resp.Header.Get("request-id") == "" {
		t.Errorf("request IDs not echoed: %v", resp.Header)
	}
	if emu.Count(alice.ObjectID) != 1 {
		t.Errorf("count %d, want 1", emu.Count(alice.ObjectID))
	}
}

func TestMessages(t *testing.T) {
	bob := newUser("Bob Jones")
	tok := graphToken(bob, "User.Read Mail.Read", nil)
	resp, b := get(t, "/v1.0/me/messages?$top=3", tok, nil)
	var page struct {
		Context  string `json:"@odata.context"`
		NextLink string `json:"@odata.nextLink"`
		Value    []struct {
			ID, Subject string
			Body        struct{ ContentType string }
		} `json:"value"`
	}
	if err := json.Unmarshal(b, &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if len(page.Value) != 3 || !strings.Contains(page.Value[0].Subject, "Bob Jones") || !strings.Contains(page.NextLink, "%24skip=3") {
		t.Errorf("page %+v", page)
	}
	id := page.Value[1].ID
	if id != graph.MessageID(bob.ObjectID, 1) {
		t.Errorf("id %s, want %s", id, graph.MessageID(bob.ObjectID, 1))
	}

	resp, b = get(t, "/v1.0/me/messages/"+id, tok, map[string]string{"Prefer": `outlook.body-content-type="text"`})
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"contentType":"text"`) || resp.Header.Get("Preference-Applied") == "" {
		t.Errorf("message: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	resp, _ = get(t, "/v1.0/me/messages/"+id, tok, map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}
	resp, b = get(t, "/v1.0/me/messages/AAMkNOPE", tok, nil)
	if resp.StatusCode != 404 || decodeError(t, b).Error.Code != "ErrorItemNotFound" {
		t.Errorf("unknown message: %d %s", resp.StatusCode, b)
	}
	resp, b = get(t, "/v1.0/me/messages?$top=0", tok, nil)
	if resp.StatusCode != 400 {
		t.Errorf("$top=0: %d %s", resp.StatusCode, b)
	}
	resp, b = get(t, "/v1.0/me/nothing", tok, nil)
	if resp.StatusCode != 400 || !strings.Contains(decodeError(t, b).Error.Message, "'nothing'") {
		t.Errorf("unknown segment: %d %s", resp.StatusCode, b)
	}
}

func TestBinary(t *testing.T) {
	carol := newUser("Carol Diaz")
	tok := graphToken(carol, "User.Read Files.Read", nil)
	resp, b := get(t, "/v1.0/me/photo/$value", tok, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || !bytes.Equal(b, graph.Photo(carol.ObjectID)) {
		t.Fatalf("photo: %d %v (%d bytes)", resp.StatusCode, resp.Header, len(b))
	}
	if !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) || bytes.Equal(b, graph.Photo(entra.NewGUID())) {
		t.Error("photo is not a per-user JPEG")
	}
	resp, _ = get(t, "/v1.0/me/drive/items/"+graph.ItemID(100_000)+"/content", tok, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("content: %d, want 302", resp.StatusCode)
	}
	resp, b = fetch(t, resp.Header.Get("Location"), nil)
	want, _ := io.ReadAll(graph.Content(carol.ObjectID, 100_000))
	if resp.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Errorf("content: %d, %d bytes", resp.StatusCode, len(b))
	}
}

func TestScripts(t *testing.T) {
	dave := newUser("Dave Ng")
	tok := graphToken(dave, "User.Read", caeCapable)
	twice := graph.Throttled(3 * time.Second)
	twice.Times = 2
	emu.Script(dave.ObjectID, twice, graph.Unavailable(0), graph.Revoked(), graph.ClaimsChallenge(`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`),
		graph.Redirect("https://elsewhere.example/x"), graph.Failure{Header: http.Header{"Set-Cookie": {"a=b"}}})

	check := func(status int, code string, header, want string) {
		t.Helper()
		resp, b := get(t, "/v1.0/me", tok, nil)
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
		}
		if code != "" && decodeError(t, b).Error.Code != code {
			t.Errorf("code %s, want %s", decodeError(t, b).Error.Code, code)
		}
		if header != "" && !strings.Contains(resp.Header.Get(header), want) {
			t.Errorf("%s = %q, want it to contain %q", header, resp.Header.Get(header), want)
		}
	}
	check(429, "TooManyRequests", "Retry-After", "3")
	check(429, "TooManyRequests", "Retry-After", "3")
	check(503, "serviceNotAvailable", "", "")
	check(401, "InvalidAuthenticationToken", "WWW-Authenticate", `client_id="`+graph.AppID+`"`)
	check(401, "InvalidAuthenticationToken", "WWW-Authenticate", `error="insufficient_claims", claims="`+
		base64.StdEncoding.EncodeToString([]byte(`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`))+`"`)
	check(302, "", "Location", "https://elsewhere.example/x")
	check(200, "", "Set-Cookie", "a=b")
	check(200, "", "", "")
	if emu.Count(dave.ObjectID) != 8 {
		t.Errorf("count %d, want 8", emu.Count(dave.ObjectID))
	}
}
