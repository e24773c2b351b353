// Package validate is the validate Function: it verifies the add-in's token,
// applies the tenant, scope and MFA policies, and says who the caller is and
// whether the token shows MFA, so a developer can see at once why Outlook
// desktop and Outlook on the web behave differently.
package validate

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/web"
)

// FunctionJSON is this Function's binding, served as declared.
//
//go:embed function.json
var FunctionJSON []byte

// Handler answers with the verified caller's identity.
func Handler(v *token.Verifier) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, _, err := web.Authenticate(c.Request(), v)
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, id)
	}
}
