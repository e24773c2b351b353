package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/graph"
	"github.com/addinsso/addinsso/manifest"
)

// now is the tests' clock: the fixtures' secrets expire around it.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// azCLIAppID is the Azure CLI's client ID, the azp of the tokens az hands out.
const azCLIAppID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// fakeAz answers what AzureCLICredential runs (azidentity's
// azure_cli_credential.go: "az account get-access-token -o json --resource
// <resource>" [--tenant <id>], through /bin/sh) with the JSON it parses
// (accessToken, expires_on), and refuses anything else. The token is one the
// Entra emulator minted for the Graph emulator: no secret.
const fakeAz = `#!/bin/sh
printf '%s\n' "$*" >> "$AZ_LOG"
[ "$1 $2 $3 $4" = "account get-access-token -o json" ] && [ "$5" = "--resource" ] || { echo "ERROR: unexpected arguments" >&2; exit 1; }
printf '{"accessToken":"%s","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"subscription":"00000000-0000-4000-8000-000000000000","tenant":"aaaaaaaa-0000-4000-8000-00000000000a","tokenType":"Bearer"}\n' "$(cat "$AZ_TOKEN")"
`

type env struct {
	graph *graph.Server
	log   string
}

// setup starts the emulators and puts the fake az first on PATH, signed in
// as an administrator whose Graph token may read applications.
func setup(t *testing.T) *env {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake az is a shell script")
	}
	emu, err := entra.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	g, err := graph.Start(emu.CA, emu.VerifyIssued)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	admin := entra.User{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "ad000000-0000-4000-8000-00000000000d", Name: "Ada Admin", Username: "ada@contoso.example"}
	tok := emu.Issue(admin, graph.ResourceURL, entra.Token{Audience: graph.ResourceURL, Scopes: "Application.Read.All Directory.Read.All", ClientApp: azCLIAppID})
	dir := t.TempDir()
	e := &env{graph: g, log: filepath.Join(dir, "az.log")}
	must(t, os.WriteFile(filepath.Join(dir, "token"), []byte(tok), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "az"), []byte(fakeAz), 0o755))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("AZ_TOKEN", filepath.Join(dir, "token"))
	t.Setenv("AZ_LOG", e.log)
	return e
}

// fixture is one registration and what the developer has beside it: the
// settings, the manifests (written by package manifest) and the directory
// objects Graph serves.
type fixture struct {
	Settings  map[string]string `json:"settings"`
	Manifests struct {
		Domain   string `json:"domain"`
		ClientID string `json:"clientId"`
		AppIDURI string `json:"appIdUri"`
	} `json:"manifests"`
	Application                  map[string]any   `json:"application"`
	ServicePrincipal             map[string]any   `json:"servicePrincipal"`
	Grants                       []map[string]any `json:"grants"`
	FederatedIdentityCredentials []map[string]any `json:"federatedIdentityCredentials"`
	ManagedIdentity              map[string]any   `json:"managedIdentity"`
	GraphServicePrincipal        map[string]any   `json:"graphServicePrincipal"`
}

// load reads clean.json with testdata/<name>.json applied as a JSON merge
// patch (RFC 7396): each mistake file holds only its mistake.
func load(t *testing.T, name string) fixture {
	t.Helper()
	var doc any
	must(t, json.Unmarshal(read(t, "clean.json"), &doc))
	if name != "clean" {
		var patch any
		must(t, json.Unmarshal(read(t, name+".json"), &patch))
		doc = mergePatch(doc, patch)
	}
	b, _ := json.Marshal(doc)
	var f fixture
	must(t, json.Unmarshal(b, &f))
	return f
}

func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// doctor serves f's directory from the Graph emulator, writes its settings
// and manifests, and runs doctor on them.
func (e *env) doctor(t *testing.T, f fixture, asJSON bool, more ...func(*options)) (string, int) {
	t.Helper()
	d := graph.Directory{FederatedIdentityCredentials: map[string][]map[string]any{}}
	d.Applications = append(d.Applications, f.Application)
	for _, sp := range []map[string]any{f.ServicePrincipal, f.GraphServicePrincipal, f.ManagedIdentity} {
		if sp != nil {
			d.ServicePrincipals = append(d.ServicePrincipals, sp)
		}
	}
	d.OAuth2PermissionGrants = f.Grants
	d.FederatedIdentityCredentials[f.Application["id"].(string)] = f.FederatedIdentityCredentials
	e.graph.SetDirectory(d)

	dir := t.TempDir()
	settings, _ := json.Marshal(map[string]any{"IsEncrypted": false, "Values": f.Settings})
	must(t, os.WriteFile(filepath.Join(dir, "local.settings.json"), settings, 0o600))
	files, err := manifest.Files(manifest.Settings{Domain: f.Manifests.Domain, ClientID: f.Manifests.ClientID, AppIDURI: f.Manifests.AppIDURI,
		GraphScopes: manifest.Scopes(f.Settings["GRAPH_SCOPES"])})
	must(t, err)
	manifests := filepath.Join(dir, "manifests")
	must(t, os.Mkdir(manifests, 0o755))
	for _, name := range []string{manifest.Outlook, manifest.Documents, manifest.Unified} {
		must(t, os.WriteFile(filepath.Join(manifests, name), files[name], 0o644))
	}
	var out bytes.Buffer
	o := options{
		settings: filepath.Join(dir, "local.settings.json"), manifests: manifests,
		graph: e.graph.URL, client: e.graph.Client(), json: asJSON, now: now,
	}
	for _, m := range more {
		m(&o)
	}
	code := run(context.Background(), o, &out)
	return out.String(), code
}

func (e *env) findings(t *testing.T, f fixture) ([]Finding, int) {
	t.Helper()
	out, code := e.doctor(t, f, true)
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("doctor -json: %v\n%s", err, out)
	}
	return r.Findings, code
}

// Each mistake fixture is the clean registration with exactly one mistake,
// named by the finding it must produce, and nothing else.
func TestFindings(t *testing.T) {
	e := setup(t)
	paths, _ := filepath.Glob("testdata/*.json")
	n := 0
	for _, p := range paths {
		id := strings.TrimSuffix(filepath.Base(p), ".json")
		if id == "clean" || id == "three-mistakes" {
			continue
		}
		n++
		t.Run(id, func(t *testing.T) {
			got, code := e.findings(t, load(t, id))
			if len(got) != 1 || got[0].ID != id {
				t.Fatalf("findings %v, want exactly %s", ids(got), id)
			}
			f := got[0]
			if f.What == "" || f.Symptom == "" || f.Fix == "" {
				t.Errorf("finding %+v lacks what, symptom or fix", f)
			}
			if want := map[Severity]int{Error: 1, Warning: 0, Info: 0}[f.Severity]; code != want {
				t.Errorf("exit status %d for a %s, want %d", code, f.Severity, want)
			}
		})
	}
	if n < 20 {
		t.Errorf("only %d mistake fixtures", n)
	}
}

func TestClean(t *testing.T) {
	e := setup(t)
	got, code := e.findings(t, load(t, "clean"))
	if len(got) != 0 || code != 0 {
		t.Fatalf("clean registration: findings %v, exit %d", ids(got), code)
	}
	// azidentity asked the fake az, as AzureCLICredential does, for Graph.
	b, err := os.ReadFile(e.log)
	must(t, err)
	if want := "account get-access-token -o json --resource " + e.graph.URL + "\n"; string(b) != want {
		t.Errorf("az was run with %q, want %q", b, want)
	}
}

func TestThreeMistakes(t *testing.T) {
	e := setup(t)
	got, code := e.findings(t, load(t, "three-mistakes"))
	want := []string{"registration.naa-redirect", "registration.token-version-mfa", "registration.graph-consent"}
	if !slices.Equal(ids(got), want) || code != 1 {
		t.Fatalf("findings %v (exit %d), want %v (exit 1)", ids(got), code, want)
	}
	text, _ := e.doctor(t, load(t, "three-mistakes"), false)
	for _, s := range append(want, "AADSTS50011", "server_misconfigured", "AADSTS65001", "2 error(s), 1 warning(s), 0 info") {
		if !strings.Contains(text, s) {
			t.Errorf("text output lacks %q:\n%s", s, text)
		}
	}
	if os.Getenv("DOCTOR_SHOW") != "" {
		clean, _ := e.doctor(t, load(t, "clean"), false)
		t.Logf("clean:\n%s\nthree mistakes:\n%s", clean, text)
	}
}

// A Graph token without a directory permission is refused as Graph refuses
// it, and doctor says it could not read the registration.
func TestNoDirectoryPermission(t *testing.T) {
	e := setup(t)
	emu, err := entra.Start(e.graph.CA)
	must(t, err)
	defer emu.Close()
	f := load(t, "clean")
	// A token the Graph emulator cannot verify (another emulator signed it).
	tok := emu.Issue(entra.User{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "ad000000-0000-4000-8000-00000000000d"}, graph.ResourceURL,
		entra.Token{Audience: graph.ResourceURL, Scopes: "User.Read", ClientApp: azCLIAppID})
	must(t, os.WriteFile(os.Getenv("AZ_TOKEN"), []byte(tok), 0o600))
	got, code := e.findings(t, f)
	if len(got) != 1 || got[0].ID != "registration.unreadable" || code != 1 {
		t.Fatalf("findings %v, exit %d", got, code)
	}
	if !strings.Contains(got[0].What, "401") {
		t.Errorf("what %q does not say Graph refused the token", got[0].What)
	}
}

func ids(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	must(t, err)
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
