// Package manifest writes the add-in's manifests from one set of settings
// (domain, client ID, name, Graph scopes) and the templates beside it: the
// Outlook XML manifest, the Word/Excel/PowerPoint XML manifest, the unified
// JSON manifest (Microsoft 365 app manifest), and the pane's config.json. The
// local run and the deploy workflow both use it (go run ./manifest/generate),
// so no manifest or GUID is edited by hand.
package manifest

import (
	"bytes"
	"crypto/sha1"
	"embed"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// The files Write writes.
const (
	Outlook   = "outlook.xml"               // Outlook (MailApp), read and compose
	Documents = "word-excel-powerpoint.xml" // Word, Excel, PowerPoint (TaskPaneApp)
	Unified   = "manifest.json"             // Microsoft 365 app manifest (Outlook)
	Config    = "config.json"               // what the task pane reads at start
)

// ManifestVersion is the unified manifest's schema version; its schema ships
// in the npm package @microsoft/app-manifest, which the tests validate against.
const ManifestVersion = "1.20"

// Settings are what differ between environments.
type Settings struct {
	Domain      string   // host[:port] serving the task pane, e.g. localhost:3000
	ClientID    string   // the app registration's client ID
	AppIDURI    string   // its Application ID URI; empty means api://<Domain>/<ClientID>
	Name        string   // the add-in's name in Office; empty means "Add-in SSO"
	GraphScopes []string // the Function App's GRAPH_SCOPES
	Authority   string   // MSAL's authority; empty means https://login.microsoftonline.com/organizations
	// GraphRoutes are the Function App's GRAPH_ALLOWED_ROUTES: the pane shows
	// only the buttons they allow. Empty: every button.
	GraphRoutes []string
	// APIBaseURL is where the pane's /api calls go: empty (or /api) for the same
	// origin, the Function App's https://<host>/api in the cross-origin mode.
	APIBaseURL string
}

var (
	hostRE  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$`)
	guidRE  = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	uriRE   = regexp.MustCompile(`^(api|https)://[A-Za-z0-9.:/_-]+$`)
	scopeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]*$`)
)

// Scopes splits a GRAPH_SCOPES value (spaces or commas) as the handler does.
func Scopes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
}

// Routes splits a GRAPH_ALLOWED_ROUTES value (comma-separated) as the handler does.
func Routes(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.Join(strings.Fields(r), " "); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// normalize checks s and fills the defaults.
func (s Settings) normalize() (Settings, error) {
	if !hostRE.MatchString(s.Domain) {
		return s, fmt.Errorf("domain %q is not a host name (e.g. happy-sea-0123.azurestaticapps.net or localhost:3000, without https://)", s.Domain)
	}
	if !guidRE.MatchString(s.ClientID) {
		return s, fmt.Errorf("client ID %q is not a GUID", s.ClientID)
	}
	s.ClientID = strings.ToLower(s.ClientID)
	if s.AppIDURI == "" {
		s.AppIDURI = "api://" + s.Domain + "/" + s.ClientID
	}
	if !uriRE.MatchString(s.AppIDURI) {
		return s, fmt.Errorf("app ID URI %q is not api://<domain>/<client id>", s.AppIDURI)
	}
	if s.Name == "" {
		s.Name = "Add-in SSO"
	}
	// Office and the unified manifest's ribbon labels cut names past this.
	if len(s.Name) > 30 || strings.ContainsAny(s.Name, "<>&\"'") {
		return s, fmt.Errorf("name %q: at most 30 characters, none of <>&\"'", s.Name)
	}
	// openid, profile and offline_access are sign-in's (the XML manifests add
	// the first two themselves): a list such as the deployment's
	// requestedGraphPermissions may carry them.
	var graph []string
	for _, sc := range s.GraphScopes {
		if !slices.Contains([]string{"openid", "profile", "offline_access"}, strings.ToLower(sc)) && !slices.Contains(graph, sc) {
			graph = append(graph, sc)
		}
	}
	s.GraphScopes = graph
	if len(s.GraphScopes) == 0 {
		return s, fmt.Errorf("no Graph scopes (GRAPH_SCOPES, e.g. User.Read)")
	}
	for _, sc := range s.GraphScopes {
		if !scopeRE.MatchString(sc) {
			return s, fmt.Errorf("scope %q is not a Graph scope name", sc)
		}
	}
	if s.Authority == "" {
		s.Authority = "https://login.microsoftonline.com/organizations"
	}
	if s.APIBaseURL == "" {
		s.APIBaseURL = "/api"
	}
	if u, err := url.Parse(s.APIBaseURL); err != nil || !(s.APIBaseURL == "/api" || u.Scheme == "https" && u.Host != "" && u.Path == "/api") {
		return s, fmt.Errorf("API base %q is not /api or https://<host>/api", s.APIBaseURL)
	}
	return s, nil
}

//go:embed templates
var templates embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"xml": func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	},
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"hosts": func() []string { return []string{"Document", "Workbook", "Presentation"} },
	"control": func(id, taskpaneID string) map[string]string {
		return map[string]string{"ID": id, "TaskpaneID": taskpaneID}
	},
}).ParseFS(templates, "templates/*"))

// Files renders every file Write writes, by name.
func Files(s Settings) (map[string][]byte, error) {
	s, err := s.normalize()
	if err != nil {
		return nil, err
	}
	// WebApplicationInfo's Scopes: what Office may ask consent for.
	scopes := append(append([]string{}, s.GraphScopes...), "profile", "openid")
	data := map[string]any{
		"Domain": s.Domain, "Origin": "https://" + s.Domain, "ClientID": s.ClientID, "AppIDURI": s.AppIDURI,
		"Name": s.Name, "Scopes": scopes, "ManifestVersion": ManifestVersion,
		// An add-in's ID identifies it in a tenant: derived from the app
		// registration, so a fork (its own registration) gets its own.
		"OutlookID": addinID(s.ClientID, Outlook), "DocumentsID": addinID(s.ClientID, Documents), "UnifiedID": addinID(s.ClientID, Unified),
	}
	files := map[string][]byte{}
	for _, name := range []string{Outlook, Documents, Unified} {
		tname := name
		if name == Documents {
			tname = "office.xml"
		}
		var b bytes.Buffer
		if err := tmpl.ExecuteTemplate(&b, tname, data); err != nil {
			return nil, err
		}
		files[name] = b.Bytes()
	}
	cfg, err := json.MarshalIndent(PaneConfig(s), "", "  ")
	if err != nil {
		return nil, err
	}
	files[Config] = append(cfg, '\n')
	return files, nil
}

// PaneConfig is config.json: what the task pane needs to know (staticwebapp/auth.js reads it).
func PaneConfig(s Settings) map[string]any {
	if n, err := s.normalize(); err == nil {
		s = n
	}
	cfg := map[string]any{"clientId": s.ClientID, "appIdUri": s.AppIDURI, "authority": s.Authority, "graphScopes": s.GraphScopes, "apiBaseUrl": s.APIBaseURL}
	if len(s.GraphRoutes) > 0 {
		cfg["graphRoutes"] = s.GraphRoutes
	}
	return cfg
}

// Write writes the manifests and config.json into dir, with the icons the
// unified manifest's app package holds (assets/, from paneDir's), and returns
// the manifests' paths.
func Write(s Settings, dir, paneDir string) ([]string, error) {
	files, err := Files(s)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		return nil, err
	}
	for _, icon := range []string{"icon-32.png", "icon-192.png"} {
		b, err := os.ReadFile(filepath.Join(paneDir, "assets", icon))
		if err != nil {
			return nil, err
		}
		files[filepath.Join("assets", icon)] = b
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	return []string{filepath.Join(dir, Outlook), filepath.Join(dir, Documents), filepath.Join(dir, Unified)}, nil
}

// addinID is a name-based (version 5 style) UUID of the client ID and the manifest.
func addinID(clientID, manifest string) string {
	h := sha1.Sum([]byte("addinsso manifest id\x00" + clientID + "\x00" + manifest))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
