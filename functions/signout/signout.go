// Package signout is the signout Function: it removes every cached Graph
// token of the caller (this instance's memory and every row of the user in
// the shared store) and answers 204. The task pane calls it when the user
// signs out; it is also the per-user purge.
package signout

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/function"
)

//go:embed function.json
var functionJSON []byte

// New returns the Function.
func New(s function.Services) (function.Function, error) {
	return function.Function{Name: "signout", JSON: functionJSON, Handler: func(c echo.Context) error {
		id, _, err := s.Authenticate(c.Request())
		if err != nil {
			return err
		}
		if err := s.Tokens.Forget(c.Request().Context(), id); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}}, nil
}
