// Command registerapp registers the add-in's app in your Entra ID tenant for
// running locally (npm run local), with the Azure CLI you are signed in to
// (az login), on Windows, macOS and Linux alike:
//
//	go run ./dev/registerapp [-domain localhost:3000] [-scopes "User.Read Mail.Read"]
//
// The registration is what Office's SSO needs for a pane on https://<domain>:
// multi-tenant, v2.0 access tokens, App ID URI api://<domain>/<client id> with
// the access_as_user scope, Office's clients pre-authorised, the fallback
// dialog's and Nested App Authentication's (brk-multihub://<domain>) SPA
// redirect URIs, Graph's delegated permissions, and a client secret for local
// use only. The client ID, the App ID URI and the secret go into
// local.settings.json (made from the sample if missing), never into the
// repository. The deploy path registers its own app (infra/).
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/manifest"
)

const (
	graphAppID = "00000003-0000-0000-c000-000000000000"
	scopeName  = "access_as_user"
)

// Office's client applications, pre-authorised for access_as_user as infra/main.bicep does.
var officeClients = []string{
	"ea5a67f6-b6f3-4338-b240-c655ddc3cc8e", // all Microsoft Office application endpoints
	"d3590ed6-52b3-4102-aeff-aad2292ab01c", // Microsoft Office (desktop)
}

func main() {
	domain := flag.String("domain", "localhost:3000", "host:port the task pane is served from")
	name := flag.String("name", "addinsso (local)", "the registration's display name")
	scopes := flag.String("scopes", "", "Graph delegated permissions (default: GRAPH_SCOPES of local.settings.json)")
	settingsPath := flag.String("settings", "", "the settings file (default local.settings.json in the repository root)")
	flag.Parse()
	if err := run(*domain, *name, *scopes, *settingsPath); err != nil {
		fmt.Fprintln(os.Stderr, "registerapp:", err)
		os.Exit(1)
	}
}

func run(domain, name, scopes, settingsPath string) error {
	root, err := funchost.ModuleRoot()
	if err != nil {
		return err
	}
	if settingsPath == "" {
		settingsPath = filepath.Join(root, funchost.Settings)
	}
	settings, _, err := funchost.ReadSettings(root, settingsPath)
	if err != nil {
		return err
	}
	if scopes == "" {
		scopes = settings.Values["GRAPH_SCOPES"]
	}
	graphScopes := manifest.Scopes(scopes)
	if len(graphScopes) == 0 {
		return errors.New("no Graph scopes: set GRAPH_SCOPES in local.settings.json or pass -scopes")
	}

	var tenant string
	if err := az(&tenant, "account", "show", "--query", "tenantId", "-o", "tsv"); err != nil {
		return fmt.Errorf("%w (sign in first: az login)", err)
	}
	tenant = strings.TrimSpace(tenant)

	// Delegated permission names become IDs through Graph's own service principal.
	var published []struct{ ID, Value string }
	if err := az(&published, "ad", "sp", "show", "--id", graphAppID, "--query", "oauth2PermissionScopes", "-o", "json"); err != nil {
		return err
	}
	var access []map[string]string
	for _, want := range append([]string{"openid", "profile", "offline_access"}, graphScopes...) {
		found := false
		for _, p := range published {
			if strings.EqualFold(p.Value, want) {
				access, found = append(access, map[string]string{"id": p.ID, "type": "Scope"}), true
				break
			}
		}
		if !found {
			return fmt.Errorf("no delegated permission %q in Microsoft Graph", want)
		}
	}

	scopeID := newUUID()
	app := map[string]any{
		"displayName":    name,
		"signInAudience": "AzureADMultipleOrgs", // Office add-ins with SSO must be multi-tenant
		"api": map[string]any{
			"requestedAccessTokenVersion": 2,
			"oauth2PermissionScopes": []map[string]any{{
				"id": scopeID, "value": scopeName, "type": "User", "isEnabled": true,
				"adminConsentDisplayName": "Use the add-in as the signed-in user",
				"adminConsentDescription": "Lets Office call the add-in's API, and the API call Microsoft Graph, as the signed-in user.",
				"userConsentDisplayName":  "Use the add-in as you",
				"userConsentDescription":  "Lets Office call the add-in's API, and the API call Microsoft Graph, as you.",
			}},
		},
		"spa": map[string]any{"redirectUris": []string{
			"https://" + domain + "/fallbackauthdialog.html", // the fallback (consent) dialog
			"brk-multihub://" + domain,                       // Nested App Authentication
		}},
		"requiredResourceAccess": []map[string]any{{"resourceAppId": graphAppID, "resourceAccess": access}},
	}
	var created struct{ ID, AppID string }
	if err := azREST(&created, "POST", "https://graph.microsoft.com/v1.0/applications", app); err != nil {
		return err
	}
	fmt.Printf("registered %s: client ID %s\n", name, created.AppID)

	// The App ID URI names the client ID, known only now; pre-authorisation
	// names the scope, which must exist first.
	var pre []map[string]any
	for _, c := range officeClients {
		pre = append(pre, map[string]any{"appId": c, "delegatedPermissionIds": []string{scopeID}})
	}
	appIDURI := "api://" + domain + "/" + created.AppID
	patch := map[string]any{
		"identifierUris": []string{appIDURI},
		"api": map[string]any{
			"requestedAccessTokenVersion": 2,
			"oauth2PermissionScopes":      app["api"].(map[string]any)["oauth2PermissionScopes"],
			"preAuthorizedApplications":   pre,
		},
	}
	if err := azREST(nil, "PATCH", "https://graph.microsoft.com/v1.0/applications/"+created.ID, patch); err != nil {
		return err
	}
	if err := az(nil, "ad", "sp", "create", "--id", created.AppID, "-o", "none"); err != nil {
		return err
	}
	var secret string
	if err := az(&secret, "ad", "app", "credential", "reset", "--id", created.AppID, "--append",
		"--display-name", "local development only", "--years", "1", "--query", "password", "-o", "tsv"); err != nil {
		return err
	}

	settings.Values["ADDIN_CLIENT_ID"] = created.AppID
	settings.Values["ADDIN_APP_ID_URI"] = appIDURI
	settings.Values["ADDIN_CLIENT_SECRET"] = strings.TrimSpace(secret)
	settings.Values["GRAPH_SCOPES"] = strings.Join(graphScopes, " ")
	if err := settings.Write(settingsPath); err != nil {
		return err
	}
	fmt.Printf(`
  App ID URI  %s (scope %s; Office's clients pre-authorised)
  Redirects   https://%s/fallbackauthdialog.html, brk-multihub://%s (SPA)
  Graph       %s, delegated
  Written to  %s (client ID, App ID URI, a client secret for local use only)

  Optional, as an admin, so no user sees a consent prompt:
    https://login.microsoftonline.com/%s/adminconsent?client_id=%s
  Next: npm run local
`, appIDURI, scopeName, domain, domain, strings.Join(graphScopes, ", "), settingsPath, tenant, created.AppID)
	return nil
}

// az runs the Azure CLI and decodes its output into out: JSON, or a *string for tsv.
func az(out any, args ...string) error {
	cmd := exec.Command("az", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return errors.New("the Azure CLI (az) is not on PATH: install it from Microsoft's documentation")
		}
		return fmt.Errorf("az %s: %v: %s", strings.Join(args[:min(3, len(args))], " "), err, strings.TrimSpace(stderr.String()))
	}
	switch o := out.(type) {
	case nil:
		return nil
	case *string:
		*o = stdout.String()
		return nil
	default:
		return json.Unmarshal(stdout.Bytes(), out)
	}
}

// azREST calls Microsoft Graph through az rest, the body in a file: quoting
// JSON on a command line differs between shells, a file does not.
func azREST(out any, method, url string, body any) error {
	f, err := os.CreateTemp("", "registerapp-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(body); err != nil {
		return err
	}
	f.Close()
	args := []string{"rest", "--method", method, "--url", url, "--headers", "Content-Type=application/json", "--body", "@" + f.Name()}
	if out == nil {
		args = append(args, "-o", "none")
	}
	return az(out, args...)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
