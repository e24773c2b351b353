package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/addinsso/addinsso/dev/capture"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/dev/testca"
)

// TestTenantRun starts the run against a tenant as `npm run local` does,
// offline: office-addin-dev-certs' files (made here by a test CA), a filled
// local.settings.json, Azurite's three services, and the handler directly
// (Core Tools are not installed here). The pane comes over HTTPS with the
// tenant's config.json, /api reaches the handler, and the build directory
// holds the settings and the manifests for https://localhost:<port>.
func TestTenantRun(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and starts the handler and Azurite")
	}
	if _, err := exec.LookPath("func"); err == nil {
		t.Skip("Core Tools are installed: the run would start func, which downloads its extension bundle")
	}
	root := moduleRoot(t)
	need(t, "node_modules (azurite)", "run npm ci in the repository root", exists(filepath.Join(root, "node_modules", "azurite")))

	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(t.TempDir(), ".office-addin-dev-certs")
	writeDevCert(t, ca, certs)

	const clientID = "c11e4700-0000-4000-8000-000000000002"
	work := t.TempDir()
	settings := filepath.Join(work, "local.settings.json")
	s, _, err := funchost.ReadSettings(root, settings) // made from the sample
	if err != nil {
		t.Fatal(err)
	}
	s.Values["ADDIN_CLIENT_ID"] = clientID
	s.Values["ADDIN_CLIENT_SECRET"] = "not-a-real-secret"
	if err := s.Write(settings); err != nil {
		t.Fatal(err)
	}
	port, _ := funchost.FreePort()

	var logs capture.Buffer
	run, err := StartTenant(context.Background(), TenantOptions{Root: root, Port: port, Settings: settings, BuildDir: filepath.Join(work, "local"), CertDir: certs, Log: &logs})
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	defer run.Close()
	origin := "https://localhost:" + strconv.Itoa(port)
	if run.URL != origin+"/taskpane.html" || run.HostName != "the handler directly" {
		t.Errorf("URL %s, host %s", run.URL, run.HostName)
	}
	if !strings.Contains(logs.String(), "Core Tools (func) is not on PATH") {
		t.Errorf("the run does not say that func is missing:\n%s", logs.String())
	}

	client := ca.Client()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get(origin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/taskpane.html"); code != 200 {
		t.Errorf("taskpane.html: %d", code)
	}
	var cfg map[string]any
	_, body := get("/config.json")
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || cfg["clientId"] != clientID ||
		cfg["appIdUri"] != "api://localhost:"+strconv.Itoa(port)+"/"+clientID || cfg["authority"] != "https://login.microsoftonline.com/organizations" {
		t.Errorf("config.json = %s", body)
	}
	if code, body := get("/api/validate"); code != 401 || !strings.Contains(body, `"code"`) {
		t.Errorf("/api/validate without a token = %d %s, want the handler's 401 problem", code, body)
	}

	// The settings beside the app, as Core Tools reads them, with the App ID URI filled in.
	copied, _, err := funchost.ReadSettings(root, filepath.Join(work, "local", funchost.Settings))
	if err != nil || copied.Values["ADDIN_APP_ID_URI"] != "api://localhost:"+strconv.Itoa(port)+"/"+clientID {
		t.Errorf("settings in the app directory: %v %v", err, copied)
	}
	for _, m := range run.Manifests {
		b, err := os.ReadFile(m)
		if err != nil || !strings.Contains(string(b), clientID) || !strings.Contains(string(b), origin+"/taskpane.html") {
			t.Errorf("%s: %v, or it lacks the client ID or %s", m, err, origin)
		}
	}
	help := run.sideloadHelp()
	for _, want := range []string{"npx office-addin-debugging start", "https://aka.ms/olksideload", "outlook.xml", "word-excel-powerpoint.xml", "manifest.json"} {
		if !strings.Contains(help, want) {
			t.Errorf("the sideloading help lacks %q:\n%s", want, help)
		}
	}
}

// writeDevCert writes a localhost certificate and key where office-addin-dev-certs puts them.
func writeDevCert(t *testing.T, ca *testca.CA, dir string) {
	t.Helper()
	cfg, err := ca.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "localhost.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "localhost.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
}
