package latestmail_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/dev/entra"
	latestmail "github.com/addinsso/addinsso/dev/example/latest-mail"
	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/web"
)

// TestGuideQuotesTheExample: docs/extending.md shows these files whole, so
// what a reader copies is what the next test runs.
func TestGuideQuotesTheExample(t *testing.T) {
	guide, err := os.ReadFile("../../../docs/extending.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"latestmail.go", "function.json"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lang := strings.TrimPrefix(name[strings.LastIndexByte(name, '.'):], ".")
		if !strings.Contains(string(guide), "```"+lang+"\n"+string(src)+"```\n") {
			t.Errorf("docs/extending.md does not show %s as it is: update the guide's ```%s block", name, lang)
		}
	}
}

// TestLatestMail runs the guide's Function in process, as main mounts it,
// with the production services against the Entra ID and Graph emulators.
func TestLatestMail(t *testing.T) {
	const clientID, secret = "11111111-2222-4333-8444-555555555555", "example-secret"
	idp, err := entra.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Close()
	idp.RegisterApp(entra.App{ClientID: clientID, Secret: secret})
	g, err := graph.Start(idp.CA, idp.VerifyIssued)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	env := map[string]string{
		"ADDIN_CLIENT_ID": clientID, "ADDIN_CLIENT_SECRET": secret, "ENTRA_AUTHORITY_HOST": idp.URL,
		"GRAPH_BASE_URL": g.URL, "GRAPH_SCOPES": "User.Read Mail.Read",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s, err := function.NewServices(cfg, function.Options{Logger: log, HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	f, err := latestmail.New(s)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = web.ErrorHandler
	e.Use(web.Middleware(log, 45*time.Second))
	if err := function.Mount(e, f); err != nil {
		t.Fatal(err)
	}
	call := func(tok string) (int, string) {
		req := httptest.NewRequest("GET", "/api/latest-mail", nil)
		if tok != "" {
			req.Header.Set(function.AddinAuthorization, "Bearer "+tok)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}

	u := entra.User{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: entra.NewGUID(), Name: "Ada Example", Username: "ada@contoso.example"}
	tok := idp.Issue(u, clientID, entra.Token{})
	code, body := call(tok)
	var got struct{ Subjects []string }
	if err := json.Unmarshal([]byte(body), &got); code != http.StatusOK || err != nil || len(got.Subjects) != 5 || !strings.Contains(body, "Ada Example") {
		t.Fatalf("first call: %d %s", code, body)
	}
	for _, leak := range idp.IssuedAccessTokens() {
		if strings.Contains(body, leak) {
			t.Fatal("the Graph token reached the answer")
		}
	}
	// A repeat caller is served from the token cache: no second exchange.
	if code, body := call(tok); code != http.StatusOK || idp.TokenRequests(u.ObjectID) != 1 {
		t.Fatalf("second call: %d %s, %d exchanges", code, body, idp.TokenRequests(u.ObjectID))
	}
	// Graph refuses the cached token once: one fresh exchange, one retry.
	g.Script(u.ObjectID, graph.Failure{Status: http.StatusUnauthorized})
	if code, body := call(tok); code != http.StatusOK || idp.TokenRequests(u.ObjectID) != 2 {
		t.Fatalf("after a refusal: %d %s, %d exchanges", code, body, idp.TokenRequests(u.ObjectID))
	}
	// No token: the shared path answers with the contract's problem.
	if code, body := call(""); code != http.StatusUnauthorized || !strings.Contains(body, `"code":"missing_token"`) {
		t.Fatalf("no token: %d %s", code, body)
	}
}
