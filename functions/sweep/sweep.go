// Package sweep is the sweep Function, timer-triggered every five minutes:
// it removes the cached Graph tokens whose time has passed from the shared
// store, which has no expiry of its own, so the table never grows past the
// tokens still alive.
package sweep

import (
	_ "embed"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

//go:embed function.json
var functionJSON []byte

// invokeResponse is what the Functions host expects back from a custom
// handler for a trigger other than HTTP.
type invokeResponse struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// New returns the Function. The host's request payload (the timer's schedule
// status) is not needed: every run sweeps what has expired by then.
func New(s function.Services) (function.Function, error) {
	return function.Function{Name: "sweep", JSON: functionJSON, Handler: func(c echo.Context) error {
		removed, err := s.Cache.Sweep(c.Request().Context())
		if err != nil {
			return problem.New(problem.UpstreamUnavailable, "The token cache's shared store could not be swept; the next run tries again.").WithCause(err)
		}
		web.Logger(c).Info("token cache swept", "removed", removed)
		return c.JSON(http.StatusOK, invokeResponse{Outputs: map[string]any{}, Logs: []string{fmt.Sprintf("removed %d expired rows", removed)}})
	}}, nil
}
