package function

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func fn(name, route string, methods ...string) Function {
	json := `{"bindings":[{"type":"httpTrigger","direction":"in","route":"` + route + `","methods":["` + strings.Join(methods, `","`) + `"]},{"type":"http","direction":"out"}]}`
	return Function{Name: name, JSON: []byte(json), Handler: func(c echo.Context) error { return c.String(http.StatusOK, name) }}
}

func TestMount(t *testing.T) {
	e := echo.New()
	timer := Function{Name: "tick", JSON: []byte(`{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 */5 * * * *"}]}`),
		Handler: func(c echo.Context) error { return c.String(http.StatusOK, "tick") }}
	if err := Mount(e, fn("a", "a", "get"), fn("b", "things/{*rest}", "get", "post"), timer); err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{"GET /api/a": "a", "GET /api/things/x/y": "b", "POST /tick": "tick"} {
		method, path, _ := strings.Cut(target, " ")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		if rec.Body.String() != want {
			t.Errorf("%s served %q, want %q", target, rec.Body, want)
		}
	}
	for _, tt := range []struct {
		name string
		fns  []Function
		want string
	}{
		{"same name", []Function{fn("a", "a", "get"), fn("a", "b", "get")}, "name a"},
		{"same method and path", []Function{fn("a", "x", "get", "post"), fn("b", "x", "post")}, "POST /api/x"},
		{"unsupported route", []Function{fn("a", "users/{id}", "get")}, "not supported"},
		{"not forwardable", []Function{{Name: "q", JSON: []byte(`{"bindings":[{"type":"queueTrigger","direction":"in"}]}`)}}, "not one this handler serves"},
		{"timer with an output", []Function{{Name: "t", JSON: []byte(`{"bindings":[{"type":"timerTrigger","direction":"in","schedule":"0 */5 * * * *"},{"type":"http","direction":"out"}]}`)}}, "no output"},
		{"two triggers", []Function{{Name: "t", JSON: []byte(`{"bindings":[{"type":"timerTrigger","direction":"in","schedule":"0 */5 * * * *"},{"type":"timerTrigger","direction":"in","schedule":"0 */5 * * * *"}]}`)}}, "exactly one trigger"},
	} {
		if err := Mount(echo.New(), tt.fns...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.want)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for _, tt := range []struct {
		addin, authorization, tok, header string
		bad                               bool
	}{
		{"Bearer a.b.c", "Bearer swa", "a.b.c", AddinAuthorization, false},
		{"", "bearer  a.b.c ", "a.b.c", "Authorization", false},
		{"", "", "", "", false},
		{"Basic abc", "", "", AddinAuthorization, true},
		{"Bearer ", "", "", AddinAuthorization, true},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.addin != "" {
			r.Header.Set(AddinAuthorization, tt.addin)
		}
		if tt.authorization != "" {
			r.Header.Set("Authorization", tt.authorization)
		}
		tok, header, err := bearerToken(r)
		if tok != tt.tok || header != tt.header || (err != nil) != tt.bad {
			t.Errorf("%q/%q: %q from %q, %v", tt.addin, tt.authorization, tok, header, err)
		}
	}
}
