package manifest

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const clientID = "0f0e0d0c-0b0a-0908-0706-050403020100"

var local = Settings{Domain: "localhost:3000", ClientID: clientID, GraphScopes: []string{"User.Read", "Mail.Read"}}

// element is any XML element, kept whole.
type element struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []element  `xml:",any"`
}

func (e element) attr(name string) string {
	for _, a := range e.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (e element) walk(f func(e, parent element, last bool)) {
	for i, c := range e.Children {
		f(c, e, i == len(e.Children)-1)
		c.walk(f)
	}
}

// TestXMLManifests checks both XML manifests as Office reads them: the right
// kind of add-in for the right hosts, WebApplicationInfo as legacy SSO needs
// it (the last child of the innermost VersionOverrides; Id the client ID;
// Resource the App ID URI; Scopes the Graph scopes, profile and openid), every
// URL on the pane's origin, every resid defined, every control ID unique.
func TestXMLManifests(t *testing.T) {
	files, err := Files(local)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, c := range []struct {
		file, kind string
		hosts      []string
	}{
		{Outlook, "MailApp", []string{"Mailbox"}},
		{Documents, "TaskPaneApp", []string{"Document", "Workbook", "Presentation"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			b := files[c.file]
			var root element
			if err := xml.Unmarshal(b, &root); err != nil {
				t.Fatalf("not well-formed: %v", err)
			}
			if root.XMLName.Local != "OfficeApp" || root.attr("type") != c.kind {
				t.Fatalf("root %s type %q, want OfficeApp %s", root.XMLName.Local, root.attr("type"), c.kind)
			}
			var hosts, controls []string
			var infos []element
			resids, defined := map[string]bool{}, map[string]bool{}
			root.walk(func(e, parent element, last bool) {
				switch e.XMLName.Local {
				case "Host":
					if e.attr("Name") != "" {
						hosts = append(hosts, e.attr("Name"))
					}
				case "VersionOverrides":
					controls = append(controls, controlIDs(e)...)
				case "Id":
					if parent.XMLName.Local == "OfficeApp" {
						ids[strings.TrimSpace(e.Text)] = true
					}
				case "WebApplicationInfo":
					if parent.XMLName.Local != "VersionOverrides" || !last || slices.ContainsFunc(e.Children, func(c element) bool { return c.XMLName.Local == "VersionOverrides" }) {
						t.Error("WebApplicationInfo must be the last child of the innermost VersionOverrides")
					}
					infos = append(infos, e)
				}
				if r := e.attr("resid"); r != "" {
					resids[r] = true
				}
				if strings.HasPrefix(e.XMLName.Space, "http://schemas.microsoft.com/office/officeappbasictypes") && e.attr("id") != "" && e.attr("DefaultValue") != "" {
					defined[e.attr("id")] = true
				}
			})
			if !slices.Equal(hosts, c.hosts) {
				t.Errorf("hosts %v, want %v", hosts, c.hosts)
			}
			for r := range resids {
				if !defined[r] {
					t.Errorf("resid %q is not defined in Resources", r)
				}
			}
			if len(controls) == 0 {
				t.Error("no buttons")
			}
			for _, id := range controls {
				if id != "" {
					t.Errorf("control id %q is used twice in one VersionOverrides", id)
				}
			}
			if len(infos) != 1 {
				t.Fatalf("want one WebApplicationInfo, found %d", len(infos))
			}
			got := map[string]string{}
			var scopes []string
			for _, c := range infos[0].Children {
				got[c.XMLName.Local] = strings.TrimSpace(c.Text)
				for _, s := range c.Children {
					scopes = append(scopes, strings.TrimSpace(s.Text))
				}
			}
			if got["Id"] != clientID || got["Resource"] != "api://localhost:3000/"+clientID {
				t.Errorf("WebApplicationInfo Id %q Resource %q", got["Id"], got["Resource"])
			}
			if want := []string{"User.Read", "Mail.Read", "profile", "openid"}; !slices.Equal(scopes, want) {
				t.Errorf("WebApplicationInfo Scopes %v, want %v", scopes, want)
			}
			checkURLs(t, string(b))
			if !strings.Contains(string(b), "brk-multihub://localhost:3000") {
				t.Error("the comment should name NAA's brk-multihub://localhost:3000 redirect")
			}
		})
	}
	if len(ids) != 2 {
		t.Errorf("the two XML manifests share an add-in ID: %v", ids)
	}
}

// controlIDs answers the control IDs used more than once in vo, not counting
// a nested VersionOverrides (it replaces vo for the clients that know it), and
// one "" per unique ID.
func controlIDs(vo element) []string {
	count := map[string]int{}
	var walk func(e element)
	walk = func(e element) {
		for _, c := range e.Children {
			if c.XMLName.Local == "VersionOverrides" {
				continue
			}
			if c.XMLName.Local == "Control" {
				count[c.attr("id")]++
			}
			walk(c)
		}
	}
	walk(vo)
	var ids []string
	for id, n := range count {
		if n > 1 {
			ids = append(ids, id)
		} else {
			ids = append(ids, "")
		}
	}
	return ids
}

// checkURLs: every URL is on the pane's origin, except Entra's (AppDomains)
// and the project's (support); every icon named ships in staticwebapp/assets.
func checkURLs(t *testing.T, text string) {
	t.Helper()
	for _, u := range regexp.MustCompile(`https://[^"<\s,]+`).FindAllString(text, -1) {
		switch {
		case strings.HasPrefix(u, "https://localhost:3000/"), u == "https://localhost:3000",
			u == "https://login.microsoftonline.com", u == "https://github.com/addinsso/addinsso",
			strings.HasPrefix(u, "https://developer.microsoft.com/json-schemas/"):
		default:
			t.Errorf("URL %s is not on https://localhost:3000", u)
		}
	}
	for _, m := range regexp.MustCompile(`https://localhost:3000/(assets/[^"]+)`).FindAllStringSubmatch(text, -1) {
		if _, err := os.Stat(filepath.Join("..", "staticwebapp", filepath.FromSlash(m[1]))); err != nil {
			t.Errorf("names %s, which staticwebapp/ does not have", m[1])
		}
	}
}

// TestUnifiedManifest checks what Office reads for SSO in the JSON manifest
// and validates it against the published schema, offline.
func TestUnifiedManifest(t *testing.T) {
	dir := t.TempDir()
	if _, err := Write(local, dir, filepath.Join("..", "staticwebapp")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, Unified))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ID      string `json:"id"`
		WebInfo struct {
			ID       string `json:"id"`
			Resource string `json:"resource"`
		} `json:"webApplicationInfo"`
		Icons        map[string]string `json:"icons"`
		ValidDomains []string          `json:"validDomains"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if m.WebInfo.ID != clientID || m.WebInfo.Resource != "api://localhost:3000/"+clientID {
		t.Errorf("webApplicationInfo = %+v", m.WebInfo)
	}
	if !guidRE.MatchString(m.ID) || m.ID == clientID {
		t.Errorf("id %q: want a GUID of its own", m.ID)
	}
	if !slices.Contains(m.ValidDomains, "localhost:3000") {
		t.Errorf("validDomains %v lack the pane's domain", m.ValidDomains)
	}
	for _, icon := range m.Icons { // the app package holds them beside the manifest
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(icon))); err != nil {
			t.Errorf("icon %s is not written beside manifest.json", icon)
		}
	}
	checkURLs(t, string(b))

	node := need(t, "node", "install Node.js 20+")
	if _, err := os.Stat(filepath.Join("..", "node_modules", "@microsoft", "app-manifest", "package.json")); err != nil {
		need(t, "", "run npm ci in the repository root for @microsoft/app-manifest")
	}
	validate := func(file string) (string, error) {
		out, err := exec.Command(node, "validate.mjs", file).CombinedOutput()
		return string(out), err
	}
	out, err := validate(filepath.Join(dir, Unified))
	if err != nil || !strings.Contains(out, "valid: ") {
		t.Fatalf("schema validation: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(out))

	// The validator must be able to say no: a client ID that is not a GUID, a missing name.
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	doc["webApplicationInfo"].(map[string]any)["id"] = "not-a-guid"
	delete(doc, "name")
	bad, _ := json.Marshal(doc)
	badFile := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badFile, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := validate(badFile); err == nil || !strings.Contains(out, "/webApplicationInfo/id") || !strings.Contains(out, "name") {
		t.Errorf("a broken manifest passed the schema: %v\n%s", err, out)
	}
}

// need finds a tool, or skips t, except in CI (CI=true), where it fails.
func need(t *testing.T, tool, hint string) string {
	t.Helper()
	if tool != "" {
		if p, err := exec.LookPath(tool); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing (%s): CI must validate the manifests", hint)
	}
	t.Skipf("skipping the schema validation: %s", hint)
	return ""
}

// TestIDs: each manifest has an add-in ID of its own, derived from the client
// ID (stable across runs, different for another registration).
func TestIDs(t *testing.T) {
	a, b := addinID(clientID, Outlook), addinID(clientID, Outlook)
	if a != b || !guidRE.MatchString(a) || a[14] != '5' {
		t.Errorf("addinID = %s, %s", a, b)
	}
	if a == addinID(clientID, Documents) || a == addinID("1f0e0d0c-0b0a-0908-0706-050403020100", Outlook) {
		t.Error("IDs collide")
	}
}

func TestSettingsRefused(t *testing.T) {
	for _, c := range []struct {
		name, want string
		s          Settings
	}{
		{"URL as domain", "is not a host name", Settings{Domain: "https://a.b", ClientID: clientID, GraphScopes: []string{"User.Read"}}},
		{"bad client ID", "is not a GUID", Settings{Domain: "a.b", ClientID: "x", GraphScopes: []string{"User.Read"}}},
		{"no scopes", "no Graph scopes", Settings{Domain: "a.b", ClientID: clientID}},
		{"markup in a scope", "is not a Graph scope name", Settings{Domain: "a.b", ClientID: clientID, GraphScopes: []string{"<x>"}}},
		{"markup in the name", "at most 30", Settings{Domain: "a.b", ClientID: clientID, GraphScopes: []string{"User.Read"}, Name: "a<b"}},
	} {
		if _, err := Files(c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	if got := Scopes("User.Read, Mail.Read  openid"); !slices.Equal(got, []string{"User.Read", "Mail.Read", "openid"}) {
		t.Errorf("Scopes = %v", got)
	}
	// The deployment's requestedGraphPermissions carry sign-in's scopes: each scope once.
	withOIDC := local
	withOIDC.GraphScopes = Scopes("openid profile offline_access User.Read Mail.Read User.Read")
	a, _ := Files(local)
	b, err := Files(withOIDC)
	if err != nil || string(a[Outlook]) != string(b[Outlook]) || string(a[Config]) != string(b[Config]) {
		t.Errorf("sign-in scopes changed the manifests (%v):\n%s", err, b[Config])
	}
}
