// Package exchange is the exchange Function: it verifies the add-in's token and
// gets a Graph token On-Behalf-Of the user (or from the cache) for the scopes
// asked, a subset of GRAPH_SCOPES. It answers what it got, never the token.
package exchange

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/web"
)

// FunctionJSON is this Function's binding, served as declared.
//
//go:embed function.json
var FunctionJSON []byte

// maxBody bounds the request: a few scopes and a claims challenge.
const maxBody = 16 << 10

// Request is the optional JSON body. No body asks for every configured scope.
type Request struct {
	Scopes []string `json:"scopes"`
	Claims string   `json:"claims"` // the claims of an auth_challenge, once the pane has answered it
}

// Response says what the exchange produced; the Graph token stays here.
type Response struct {
	Scopes    []string  `json:"scopes"`
	ExpiresAt time.Time `json:"expiresAt"`
	Source    string    `json:"source"` // memory, table or entra
	FromCache bool      `json:"fromCache"`
}

// Handler exchanges for the verified caller; allowed is GRAPH_SCOPES.
func Handler(v *token.Verifier, tokens *graphtoken.Source, allowed []string) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		id, raw, err := web.Authenticate(r, v)
		if err != nil {
			return err
		}
		req, err := readRequest(r)
		if err != nil {
			return err
		}
		scopes, err := subset(req.Scopes, allowed)
		if err != nil {
			return err
		}
		res, err := tokens.Get(r.Context(), graphtoken.Request{Identity: id, Assertion: raw, Scopes: scopes, Claims: req.Claims})
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, Response{
			Scopes:    res.Token.Scopes,
			ExpiresAt: res.Token.ExpiresAt.UTC(),
			Source:    string(res.Source),
			FromCache: res.Source != graphtoken.FromEntra,
		})
	}
}

func readRequest(r *http.Request) (Request, error) {
	var req Request
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return req, problem.New(problem.BadRequest, "the request body could not be read").WithCause(err)
	}
	if len(body) > maxBody {
		return req, problem.New(problem.RequestTooLarge, "the request body is over %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return req, problem.New(problem.UnsupportedMediaType, `send {"scopes": [...]} as application/json, or no body for every configured scope`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, problem.New(problem.BadRequest, `the body is not {"scopes": ["User.Read", ...], "claims": "..."}: %s`, jsonError(err))
	}
	if dec.More() {
		return req, problem.New(problem.BadRequest, "the body holds more than one JSON value")
	}
	return req, nil
}

// subset maps the asked scopes to the configured names; every one must be configured.
func subset(asked, allowed []string) ([]string, error) {
	var out []string
	for _, a := range asked {
		i := indexFold(allowed, a)
		if i < 0 {
			return nil, problem.New(problem.BadRequest, "scope %q is not one of GRAPH_SCOPES (%s)", truncate(a, 64), strings.Join(allowed, ", "))
		}
		if indexFold(out, allowed[i]) < 0 {
			out = append(out, allowed[i])
		}
	}
	return out, nil // nil: all configured scopes
}

func indexFold(list []string, s string) int {
	for i, v := range list {
		if strings.EqualFold(v, s) {
			return i
		}
	}
	return -1
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// jsonError describes a decoding error without echoing the body.
func jsonError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return "malformed JSON"
	case errors.As(err, &typ):
		return "field " + typ.Field + " has the wrong type"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return truncate(strings.TrimPrefix(err.Error(), "json: "), 80)
	}
	return "malformed JSON"
}
