// Package validate is the validate Function: it verifies the add-in's token,
// applies the tenant, scope and MFA policies, and says who the caller is and
// whether the token shows MFA, so a developer can see at once why Outlook
// desktop and Outlook on the web behave differently.
package validate

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/function"
)

//go:embed function.json
var functionJSON []byte

// New returns the Function: it answers with the verified caller's identity.
func New(s function.Services) (function.Function, error) {
	return function.Function{Name: "validate", JSON: functionJSON, Handler: func(c echo.Context) error {
		id, _, err := s.Authenticate(c.Request())
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, id)
	}}, nil
}
