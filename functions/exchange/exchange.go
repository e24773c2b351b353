// Package exchange is the exchange Function: it verifies the add-in's token and
// gets a Graph token On-Behalf-Of the user (or from the cache) for the scopes
// asked, a subset of GRAPH_SCOPES. It answers what it got, never the token.
package exchange

import (
	"bytes"
	_ "embed"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

//go:embed function.json
var functionJSON []byte

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

// New returns the Function.
func New(s function.Services) (function.Function, error) {
	return function.Function{Name: "exchange", JSON: functionJSON, Handler: func(c echo.Context) error {
		r := c.Request()
		id, raw, err := s.Authenticate(r)
		if err != nil {
			return err
		}
		req, err := readRequest(r)
		if err != nil {
			return err
		}
		res, err := s.Tokens.Get(r.Context(), graphtoken.Request{Identity: id, Assertion: raw, Scopes: req.Scopes, Claims: req.Claims})
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, Response{
			Scopes:    res.Scopes,
			ExpiresAt: res.ExpiresAt.UTC(),
			Source:    string(res.Source),
			FromCache: res.Source != graphtoken.FromEntra,
		})
	}}, nil
}

func readRequest(r *http.Request) (Request, error) {
	var req Request
	body, err := web.ReadBody(r, maxBody)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return req, err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return req, problem.New(problem.UnsupportedMediaType, `Send {"scopes": [...]} as application/json, or no body for every configured scope.`)
	}
	return req, web.DecodeJSON(body, &req, true, `{"scopes": ["User.Read", ...], "claims": "..."}`)
}
