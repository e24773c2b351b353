package infra

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// appDecl is one `resource X 'Microsoft.Graph/applications@...' = {...}` declaration, with the
// same-file variables it names expanded: what the extension sends to Graph in one request.
type appDecl struct {
	file, symbol, body, sent string
}

var (
	appDeclPattern = regexp.MustCompile(`(?m)^resource (\w+) 'Microsoft\.Graph/applications@[^']+' = \{$`)
	varDeclPattern = regexp.MustCompile(`(?m)^var (\w+) = `)
)

func appDeclarations(t *testing.T) []appDecl {
	t.Helper()
	var out []appDecl
	for _, file := range bicepFiles(t) {
		src := readFile(t, filepath.Join(root, file))
		vars := map[string]string{}
		for _, m := range varDeclPattern.FindAllStringSubmatchIndex(src, -1) {
			rest := src[m[1]:]
			end := strings.Index(rest, "\n\n")
			if end < 0 {
				end = len(rest)
			}
			vars[src[m[2]:m[3]]] = rest[:end]
		}
		for _, m := range appDeclPattern.FindAllStringSubmatchIndex(src, -1) {
			body := block(src[m[1]:])
			sent := body
			for name, text := range vars {
				if regexp.MustCompile(`\b` + name + `\b`).MatchString(body) {
					sent += "\n" + text
				}
			}
			out = append(out, appDecl{file, src[m[2]:m[3]], body, sent})
		}
	}
	return out
}

// Graph refuses api.preAuthorizedApplications naming a scope the same request defines
// (microsoft-graph-docs#12675), on the first deployment and on every rerun after it.
func TestPreAuthorizationFollowsTheScope(t *testing.T) {
	decls := appDeclarations(t)
	var defining, preauthorizing []appDecl
	for _, d := range decls {
		if strings.Contains(d.sent, "oauth2PermissionScopes") {
			defining = append(defining, d)
		}
		if strings.Contains(d.sent, "preAuthorizedApplications") {
			preauthorizing = append(preauthorizing, d)
		}
	}
	if len(defining) == 0 || len(preauthorizing) == 0 {
		t.Fatalf("want an application declaration defining access_as_user and one pre-authorising Office; found %d and %d", len(defining), len(preauthorizing))
	}
	for _, d := range defining {
		if strings.Contains(d.sent, "preAuthorizedApplications") {
			t.Errorf("%s: %s defines the scope and pre-authorises it in the same request; Graph refuses that", d.file, d.symbol)
		}
	}
	// The pre-authorising declaration is in a module that needs the appId of the defining one:
	// it can only run once the application, with its scope, exists.
	for _, p := range preauthorizing {
		if !regexp.MustCompile(`(?m)^param appId string$`).MatchString(readFile(t, filepath.Join(root, p.file))) {
			t.Errorf("%s: pre-authorises without a param appId from an earlier declaration", p.file)
			continue
		}
		called := false
		for _, d := range defining {
			caller := readFile(t, filepath.Join(root, d.file))
			module := regexp.MustCompile(`(?m)^module \w+ '` + regexp.QuoteMeta(filepath.Base(p.file)) + `' = \{$`).FindStringIndex(caller)
			if module != nil && strings.Contains(block(caller[module[1]:]), "appId: "+d.symbol+".appId") {
				called = true
			}
		}
		if !called {
			t.Errorf("%s is not a module given appId from the declaration that defines the scope", p.file)
		}
	}
}

// The service principal and the federated credential must wait for the complete application
// (identifierUris and pre-authorisation), not for the first request.
func TestServicePrincipalAndCredentialFollowTheCompleteApp(t *testing.T) {
	var complete []appDecl
	for _, d := range appDeclarations(t) {
		if strings.Contains(d.body, "identifierUris") {
			complete = append(complete, d)
		}
	}
	if len(complete) != 1 {
		t.Fatalf("%d application declarations set identifierUris, want 1", len(complete))
	}
	c := complete[0]
	src := readFile(t, filepath.Join(root, c.file))
	for _, want := range []string{
		"resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {\n  appId: " + c.symbol + ".appId\n",
		"'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = {\n  name: '${" + c.symbol + ".uniqueName}/",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("%s: want %q, hanging off the complete application %s", c.file, want, c.symbol)
		}
	}
}

// requestedAccessTokenVersion is a parameter with a documented default, flowing to the app.
func TestAccessTokenVersionIsAParameter(t *testing.T) {
	main := readFile(t, filepath.Join(root, "infra/main.bicep"))
	decl := regexp.MustCompile(`(?s)((?://[^\n]*\n)+)@description\([^\n]*\)\n@allowed\(\[1, 2\]\)\nparam accessTokenVersion int = 2\n`).FindStringSubmatch(main)
	if decl == nil {
		t.Fatal("main.bicep: want `param accessTokenVersion int = 2`, @allowed([1, 2]), after a comment saying why")
	}
	for _, why := range []string{"amr", "acrs", "v1.0", "v2.0"} {
		if !strings.Contains(decl[1], why) {
			t.Errorf("main.bicep: the comment on accessTokenVersion does not mention %s", why)
		}
	}
	if !strings.Contains(main, "accessTokenVersion: accessTokenVersion") {
		t.Error("main.bicep does not pass accessTokenVersion to the app registration")
	}
	reg := readFile(t, filepath.Join(root, "infra/modules/appregistration.bicep"))
	if !strings.Contains(reg, "requestedAccessTokenVersion: accessTokenVersion") || strings.Contains(reg, "requestedAccessTokenVersion: 2") {
		t.Error("appregistration.bicep: requestedAccessTokenVersion must come from the accessTokenVersion parameter")
	}
}

// Setting preAuthorizedClientIds replaces the Office clients; additions go elsewhere.
func TestExtraPreAuthorizedClientsAddToOffice(t *testing.T) {
	main := readFile(t, filepath.Join(root, "infra/main.bicep"))
	if !strings.Contains(main, "preAuthorizedClientIds: union(preAuthorizedClientIds, extraPreAuthorizedClientIds)") {
		t.Error("main.bicep: want extraPreAuthorizedClientIds added to the Office clients")
	}
	doc := readFile(t, filepath.Join(root, "docs/deploy.md"))
	if strings.Contains(doc, "to `preAuthorizedClientIds`") || !strings.Contains(doc, "extraPreAuthorizedClientIds") {
		t.Error("docs/deploy.md: tell readers to add clients with extraPreAuthorizedClientIds, never to set preAuthorizedClientIds")
	}
}
