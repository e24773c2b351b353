// Package graphproxy is the graph-proxy Function. It answers 501 until its issue lands.
package graphproxy

import (
	_ "embed"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/problem"
)

// FunctionJSON is this Function's binding, served as declared.
//
//go:embed function.json
var FunctionJSON []byte

// Handler answers not_implemented.
func Handler() echo.HandlerFunc {
	return func(c echo.Context) error {
		return problem.New(problem.NotImplemented, "the graph-proxy Function is not implemented yet")
	}
}
