// Package exchange is the exchange Function. It answers 501 until its issue lands.
package exchange

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
		return problem.New(problem.NotImplemented, "the exchange Function is not implemented yet")
	}
}
