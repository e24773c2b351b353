package graphproxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/handler/graphroute"
	"github.com/addinsso/addinsso/handler/problem"
)

// TestHostilePaths: every trick is refused as graph_path_forbidden before any
// token work and without a call to Graph, whether or not a valid token is sent.
func TestHostilePaths(t *testing.T) {
	h := newHarness(t)
	tok := addinToken(newUser("Mallory Hostile"))
	long := "/api/graph/v1.0/me/messages/" + strings.Repeat("A", graphroute.MaxPathBytes)
	tests := []struct{ name, method, target string }{
		{"dot-dot", "GET", "/api/graph/v1.0/me/../users"},
		{"dot-dot at the start", "GET", "/api/graph/../validate"},
		{"dot segment", "GET", "/api/graph/v1.0/me/./messages"},
		{"encoded slash after dot-dot", "GET", "/api/graph/v1.0/me/..%2fusers"},
		{"encoded slash, upper case", "GET", "/api/graph/v1.0/me/..%2Fusers"},
		{"encoded dots", "GET", "/api/graph/v1.0/me/%2e%2e/users"},
		{"encoded dots, upper case", "GET", "/api/graph/v1.0/me/%2E%2E/users"},
		{"double-encoded dots", "GET", "/api/graph/v1.0/me/%252e%252e/users"},
		{"double-encoded slash in an ID", "GET", "/api/graph/v1.0/me/messages/a%252fb"},
		{"encoded slash in an ID", "GET", "/api/graph/v1.0/me/messages/a%2fb"},
		{"encoded dot-dot as an ID", "GET", "/api/graph/v1.0/me/messages/%2e%2e"},
		{"dots as an ID", "GET", "/api/graph/v1.0/me/messages/..."},
		{"delta as an ID: a whole-collection listing", "GET", "/api/graph/v1.0/me/messages/delta"},
		{"encoded delta as an ID", "GET", "/api/graph/v1.0/me/messages/%64elta"},
		{"type cast as an ID", "GET", "/api/graph/v1.0/me/messages/microsoft.graph.eventMessage"},
		{"dotted ID", "GET", "/api/graph/v1.0/me/messages/AAMk.AAA="},
		{"$count as an ID", "GET", "/api/graph/v1.0/me/messages/$count"},
		{"overlong UTF-8 dots", "GET", "/api/graph/v1.0/me/messages/%c0%ae%c0%ae"},
		{"encoded slash between segments", "GET", "/api/graph/v1.0%2fme"},
		{"leading encoded slash", "GET", "/api/graph/%2fv1.0/me"},
		{"scheme-relative URL", "GET", "/api/graph//evil.example/x"},
		{"absolute URL", "GET", "/api/graph/https://evil.example/"},
		{"absolute URL, encoded slashes", "GET", "/api/graph/https:%2f%2fevil.example/v1.0/me"},
		{"user info", "GET", "/api/graph/v1.0/me@evil.example"},
		{"backslash", "GET", `/api/graph/v1.0/me\..\users`},
		{"encoded backslash", "GET", "/api/graph/v1.0/me%5c..%5cusers"},
		{"CR LF", "GET", "/api/graph/v1.0/me%0d%0aHost:%20evil.example"},
		{"NUL", "GET", "/api/graph/v1.0/me%00"},
		{"tab in an ID", "GET", "/api/graph/v1.0/me/messages/%09AAMk"},
		{"encoded ? in an ID", "GET", "/api/graph/v1.0/me/messages/AAMk%3f$top=1"},
		{"encoded # in an ID", "GET", "/api/graph/v1.0/me/messages/AAMk%23x"},
		{"path parameter", "GET", "/api/graph/v1.0/me;x=1"},
		{"trailing slash", "GET", "/api/graph/v1.0/me/"},
		{"double trailing slash", "GET", "/api/graph/v1.0/me//"},
		{"empty path", "GET", "/api/graph/"},
		{"case differs", "GET", "/api/graph/v1.0/ME"},
		{"path not listed", "GET", "/api/graph/v1.0/users"},
		{"other API version", "GET", "/api/graph/beta/me"},
		{"extra segment", "GET", "/api/graph/v1.0/me/messages/AAMk/attachments"},
		{"prefix of a listed path", "GET", "/api/graph/v1.0"},
		{"method not listed", "DELETE", "/api/graph/v1.0/me/messages/AAMk"},
		{"method listed for another path", "POST", "/api/graph/v1.0/me"},
		{"overlong path", "GET", long},
		{"overlong query", "GET", "/api/graph/v1.0/me/messages?$select=" + strings.Repeat("a", graphroute.MaxQueryBytes)},
		{"CR LF in the query", "GET", "/api/graph/v1.0/me?$select=id%0d%0aX-Injected:%201"},
		{"NUL in the query", "GET", "/api/graph/v1.0/me?$select=id%00"},
		{"malformed escape in the query", "GET", "/api/graph/v1.0/me?$select=%zz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, withToken := range []bool{true, false} {
				calls, upstream := h.tokens.calls.Load(), graphEmu.Total()
				sent := ""
				if withToken {
					sent = tok
				}
				rec := h.serve(tt.method, tt.target, sent)
				p := problemOf(t, http.StatusForbidden, rec.Header(), rec.Body.Bytes())
				if p.Code != problem.GraphPathForbidden || p.Action != problem.Fatal {
					t.Errorf("code %s action %s, want graph_path_forbidden fatal", p.Code, p.Action)
				}
				if h.tokens.calls.Load() != calls || graphEmu.Total() != upstream {
					t.Errorf("a refused request asked for a token or reached Graph")
				}
			}
		})
	}
}

// TestAllowedTargets: what reaches Graph is GRAPH_BASE_URL plus the decoded,
// checked segments and the query as sent, whatever host the request names.
func TestAllowedTargets(t *testing.T) {
	p := &Proxy{prefix: "/api/graph/", base: mustURL(t, "https://graph.example/base")}
	for _, entry := range []string{"GET /v1.0/me/messages/{id}", "GET /v1.0/me/photo/$value"} {
		r, err := graphroute.Parse(entry)
		if err != nil {
			t.Fatal(err)
		}
		p.routes = append(p.routes, r)
	}
	tests := []struct{ target, want string }{
		{"/api/graph/v1.0/me/messages/AAMk%3D?$select=subject,from&$filter=from/emailAddress/address%20eq%20'a@b'",
			"https://graph.example/base/v1.0/me/messages/AAMk=?$select=subject,from&$filter=from/emailAddress/address%20eq%20'a@b'"},
		{"https://evil.example/api/graph/v1.0/me/photo/%24value", "https://graph.example/base/v1.0/me/photo/$value"},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", tt.target, nil)
		_, got, err := p.allowed(r)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.target, got, err, tt.want)
		}
	}
}

// TestNewRefuses: a route whose method graph-proxy's function.json does not
// accept could never be reached, so it stops the start.
func TestNewRefuses(t *testing.T) {
	h := newHarness(t)
	s := h.services
	cfg := *s.Config
	r, err := graphroute.Parse("GET /v1.0/me")
	if err != nil {
		t.Fatal(err)
	}
	r.Method = "HEAD"
	cfg.GraphRoutes = []graphroute.Route{r}
	s.Config = &cfg
	if _, err := New(s); err == nil || !strings.Contains(err.Error(), "GRAPH_ALLOWED_ROUTES") {
		t.Errorf("error %v, want one naming GRAPH_ALLOWED_ROUTES", err)
	}
}

func TestBearerParams(t *testing.T) {
	claims := `{"access_token":{"nbf":{"essential":true,"value":"1602707700"}}}`
	tests := []struct {
		header string
		want   string
		ok     bool
	}{
		{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjAyNzA3NzAwIn19fQ=="`, claims, true},
		{`bearer error=insufficient_claims, claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjAyNzA3NzAwIn19fQ"`, claims, true},
		{`Bearer realm="a\"b", error="insufficient_claims", claims="not base64!"`, "", true},
		{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="` + graph.AppID + `"`, "", false},
		{`Basic realm="x", error="insufficient_claims"`, "", false},
	}
	for _, tt := range tests {
		h := http.Header{"Www-Authenticate": {tt.header}}
		got, ok := claimsChallenge(h)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %q %v, want %q %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}
