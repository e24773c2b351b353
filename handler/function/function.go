// Package function is the shape every Function of the binary has: its name,
// the function.json it is served as, and its handler, built from the Services
// the binary shares. Mount serves a Function's route exactly as its
// function.json declares it, so the routes the Functions host forwards and the
// routes the binary answers come from one source.
package function

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// RoutePrefix is host.json's extensions.http.routePrefix.
const RoutePrefix = "api"

// Function is one Azure Function served by the binary.
type Function struct {
	Name    string // its folder under functions/
	JSON    []byte // its function.json, embedded beside the code
	Handler echo.HandlerFunc
}

// Services are what the binary's Functions share, built once at start.
type Services struct {
	Config   *config.Config
	Verifier *token.Verifier
	Tokens   graphtoken.Tokens
	// Cache is the Graph token cache behind Tokens, for maintenance (the
	// sweep); Functions get and forget tokens through Tokens.
	Cache *tokencache.Cache
	// HTTPClient calls Microsoft Graph: entra.HTTPClient(), redirects never followed.
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// New builds a Function from the shared services; main lists one per Function.
type New func(Services) (Function, error)

// AddinAuthorization is where the task pane sends its token: Static Web Apps
// replaces the Authorization header of /api calls with its own.
const AddinAuthorization = "X-Addin-Authorization"

// Authenticate verifies the add-in's token, read from X-Addin-Authorization
// first, then Authorization, and returns who the caller is and the token
// itself (the assertion for On-Behalf-Of). Errors are *problem.Error.
func (s Services) Authenticate(r *http.Request) (*token.Identity, string, error) {
	raw, header, err := bearerToken(r)
	if err != nil {
		return nil, "", err
	}
	id, err := s.Verifier.Verify(r.Context(), raw)
	var p *problem.Error
	if header == "Authorization" && errors.As(err, &p) && p.Code == problem.InvalidToken {
		// Behind Static Web Apps this is the platform's token, not the add-in's.
		return nil, "", problem.New(problem.InvalidToken, "The token sent in Authorization is not this API's (%s); behind Static Web Apps that header holds the platform's token, so send the add-in's as %s.",
			p.Detail, AddinAuthorization).WithCause(p.Cause)
	}
	if err != nil {
		return nil, "", err
	}
	return id, raw, nil
}

// bearerToken reads the token and names the header it came from; "" means none was sent.
func bearerToken(r *http.Request) (tok, header string, err error) {
	v, header := r.Header.Get(AddinAuthorization), AddinAuthorization
	if v == "" {
		v, header = r.Header.Get("Authorization"), "Authorization"
	}
	if v == "" {
		return "", "", nil
	}
	scheme, tok, ok := strings.Cut(v, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", header, problem.New(problem.InvalidToken, "The %s header must be \"Bearer <access token>\".", header)
	}
	return tok, header, nil
}

// Mount serves each Function on its route, for each of its methods. Two
// Functions of one name, or serving one method and path, are refused: the
// router would silently keep only the last.
func Mount(e *echo.Echo, fns ...Function) error {
	seen := map[string]string{}
	for _, f := range fns {
		d, err := Parse(f.Name, f.JSON)
		if err != nil {
			return err
		}
		path, err := d.Path()
		if err != nil {
			return err
		}
		keys := append([]string{"name " + f.Name}, d.Methods...)
		for i, k := range keys {
			if i > 0 {
				k = k + " " + path
			}
			if other, dup := seen[k]; dup {
				return fmt.Errorf("%s: %s is also %s's", f.Name, k, other)
			}
			seen[k] = f.Name
		}
		e.Match(d.Methods, path, f.Handler)
	}
	return nil
}

// Definition is what the handler needs from a function.json.
type Definition struct {
	Name    string   // the function's folder
	Trigger string   // httpTrigger, or timerTrigger
	Route   string   // the httpTrigger route template, e.g. graph/{*path}
	Methods []string // upper case
}

// Parse reads the trigger binding of a function.json. An HTTP Function has
// exactly one httpTrigger input and one http output, forwarded as the request
// itself; a timer Function has exactly one timerTrigger and nothing else, and
// the host invokes it as POST /<name> with a JSON payload (Data, Metadata) and
// expects one back (Outputs, Logs, ReturnValue).
func Parse(name string, functionJSON []byte) (Definition, error) {
	var doc struct {
		Bindings []struct {
			Type      string   `json:"type"`
			Direction string   `json:"direction"`
			Route     string   `json:"route"`
			Methods   []string `json:"methods"`
			Schedule  string   `json:"schedule"`
		} `json:"bindings"`
	}
	if err := json.Unmarshal(functionJSON, &doc); err != nil {
		return Definition{}, fmt.Errorf("%s/function.json: %w", name, err)
	}
	d := Definition{Name: name}
	var triggers, outputs int
	for _, b := range doc.Bindings {
		switch {
		case b.Type == "httpTrigger" && b.Direction == "in":
			triggers++
			d.Trigger, d.Route = b.Type, b.Route
			for _, m := range b.Methods {
				d.Methods = append(d.Methods, strings.ToUpper(m))
			}
		case b.Type == "timerTrigger" && b.Direction == "in" && b.Schedule != "":
			triggers++
			d.Trigger, d.Methods = b.Type, []string{http.MethodPost}
		case b.Type == "http" && b.Direction == "out":
			outputs++
		default:
			return Definition{}, fmt.Errorf("%s/function.json: binding %s/%s is not one this handler serves (httpTrigger with http out, or timerTrigger with a schedule)", name, b.Type, b.Direction)
		}
	}
	switch {
	case triggers != 1:
		return Definition{}, errors.New(name + "/function.json: need exactly one trigger")
	case d.Trigger == "httpTrigger" && (outputs != 1 || d.Route == "" || len(d.Methods) == 0):
		return Definition{}, errors.New(name + "/function.json: an httpTrigger needs a route, methods and one http output")
	case d.Trigger == "timerTrigger" && outputs != 0:
		return Definition{}, errors.New(name + "/function.json: a timerTrigger takes no output binding")
	}
	return d, nil
}

// Path is the echo path for the route: /api/ + the route, with a trailing
// catch-all {*name} becoming echo's *; /<name> for a timer Function.
func (d Definition) Path() (string, error) {
	if d.Trigger != "httpTrigger" {
		return "/" + d.Name, nil
	}
	segs := strings.Split(d.Route, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "{*") && strings.HasSuffix(s, "}") && i == len(segs)-1:
			segs[i] = "*"
		case strings.ContainsAny(s, "{}*"):
			return "", fmt.Errorf("%s: route segment %q is not supported", d.Name, s)
		}
	}
	return "/" + RoutePrefix + "/" + strings.Join(segs, "/"), nil
}
