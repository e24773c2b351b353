package graphproxy

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/problem"
)

// TestHostilePaths: every trick is refused as graph_path_forbidden before any
// token work and without a call to Graph, whether or not a valid token is sent.
func TestHostilePaths(t *testing.T) {
	h := newHarness(t)
	tok := addinToken(newUser("Mallory Hostile"))
	long := "/api/graph/v1.0/me/messages/" + strings.Repeat("A", MaxPathBytes)
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
		{"overlong query", "GET", "/api/graph/v1.0/me/messages?$select=" + strings.Repeat("a", MaxQueryBytes)},
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

func TestSplitPathAccepts(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{"v1.0/me", []string{"v1.0", "me"}},
		{"v1.0/me/photo/$value", []string{"v1.0", "me", "photo", "$value"}},
		{"v1.0/me/photo/%24value", []string{"v1.0", "me", "photo", "$value"}},
		{"v1.0/me/messages/AAMkAGI2_x-y%3D", []string{"v1.0", "me", "messages", "AAMkAGI2_x-y="}},
		{"v1.0/me/messages/AAMk.AAA=", []string{"v1.0", "me", "messages", "AAMk.AAA="}},
	}
	for _, tt := range tests {
		got, err := splitPath(tt.raw)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitPath(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}

// TestAllowedTargets: what reaches Graph is GRAPH_BASE_URL plus the decoded,
// checked segments and the query as sent, whatever host the request names.
func TestAllowedTargets(t *testing.T) {
	p := &Proxy{prefix: "/api/graph/"}
	var err error
	if p.routes, err = compile([]config.Route{{Method: "GET", Path: "/v1.0/me/messages/{id}"}, {Method: "GET", Path: "/v1.0/me/photo/$value"}}, []string{"GET"}); err != nil {
		t.Fatal(err)
	}
	p.base = mustURL(t, "https://graph.example/base")
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

func TestCompileRefuses(t *testing.T) {
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	tests := []struct {
		route config.Route
		want  string
	}{
		{config.Route{Method: "HEAD", Path: "/v1.0/me"}, "method"},
		{config.Route{Method: "GET", Path: "v1.0/me"}, "must start with /"},
		{config.Route{Method: "GET", Path: "/"}, "must start with /"},
		{config.Route{Method: "GET", Path: "/v1.0//me"}, "empty segment"},
		{config.Route{Method: "GET", Path: "/v1.0/me/"}, "empty segment"},
		{config.Route{Method: "GET", Path: "/v1.0/../users"}, "only dots"},
		{config.Route{Method: "GET", Path: "/v1.0/{}"}, "placeholder"},
		{config.Route{Method: "GET", Path: "/v1.0/{id}x"}, "placeholder"},
		{config.Route{Method: "GET", Path: "/v1.0/me%2fx"}, "placeholder"},
		{config.Route{Method: "GET", Path: "/v1.0/users/{id|upn}"}, "placeholder"},
	}
	for _, tt := range tests {
		_, err := compile([]config.Route{tt.route}, methods)
		if err == nil || !strings.Contains(err.Error(), "GRAPH_ALLOWED_ROUTES") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming GRAPH_ALLOWED_ROUTES and %q", tt.route, err, tt.want)
		}
	}
	if _, err := compile(nil, methods); err == nil {
		t.Error("an empty allow-list compiled")
	}
}

func TestNewRefuses(t *testing.T) {
	good := &config.Config{GraphBaseURL: "https://graph.microsoft.com", GraphRoutes: []config.Route{{Method: "GET", Path: "/v1.0/me"}}}
	h := newHarness(t)
	for _, tt := range []struct {
		name string
		cfg  config.Config
		want string
	}{
		{"http base", config.Config{GraphBaseURL: "http://graph.microsoft.com", GraphRoutes: good.GraphRoutes}, "GRAPH_BASE_URL"},
		{"base with query", config.Config{GraphBaseURL: "https://graph.microsoft.com/?x=1", GraphRoutes: good.GraphRoutes}, "GRAPH_BASE_URL"},
		{"bad route", config.Config{GraphBaseURL: good.GraphBaseURL, GraphRoutes: []config.Route{{Method: "GET", Path: "/a/../b"}}}, "GRAPH_ALLOWED_ROUTES"},
	} {
		if _, err := New(&tt.cfg, h.proxy.verifier, h.tokens, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.want)
		}
	}
	if _, err := New(good, h.proxy.verifier, nil, Options{}); err == nil {
		t.Error("New accepted nil Tokens")
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
