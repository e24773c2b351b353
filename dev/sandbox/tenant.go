package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/manifest"
)

// TenantOptions says how to run against the developer's own tenant (-tenant).
type TenantOptions struct {
	Root     string // the module root; empty finds it
	Port     int    // the pane's port: the App ID URI names it (api://localhost:3000/<client id>)
	Settings string // local.settings.json; empty means <Root>/local.settings.json
	BuildDir string // the app (and Azurite's data beside it); empty means <Root>/build/local
	CertDir  string // office-addin-dev-certs' files; empty means ~/.office-addin-dev-certs, where it puts them
	Log      io.Writer
	Verbose  bool
}

// Tenant is a running local deployment against a real tenant: the app built
// for this machine, Azurite, the Functions host (or the handler as it would
// run it), and the front server over HTTPS.
type Tenant struct {
	URL       string   // https://localhost:<port>/taskpane.html
	Manifests []string // outlook.xml, word-excel-powerpoint.xml, manifest.json
	HostName  string   // "func start", or "the handler directly"
	domain    string   // localhost:<port>

	log     *prefixer
	azurite *azurite.Server
	host    *funchost.Handler
	server  *http.Server
}

// The settings a developer must fill in; the rest have working defaults.
var requiredSettings = []string{"ADDIN_CLIENT_ID", "ADDIN_CLIENT_SECRET", "TOKEN_CACHE_ENCRYPTION_KEY"}

// StartTenant brings the local deployment up. On error, whatever started is stopped.
func StartTenant(ctx context.Context, opts TenantOptions) (t *Tenant, err error) {
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.Root == "" {
		if opts.Root, err = funchost.ModuleRoot(); err != nil {
			return nil, err
		}
	}
	if opts.Settings == "" {
		opts.Settings = filepath.Join(opts.Root, funchost.Settings)
	}
	if opts.Port <= 0 {
		return nil, errors.New("-port: the App ID URI names the port (api://localhost:3000/<client id>), so pick one")
	}
	t = &Tenant{log: newPrefixer(opts.Log)}
	defer func() {
		if err != nil {
			t.Close()
			t = nil
		}
	}()

	file, err := readSettings(opts.Root, opts.Settings)
	if err != nil {
		return t, err
	}
	v := file.Values
	domain := fmt.Sprintf("localhost:%d", opts.Port)
	if u := v["ADDIN_APP_ID_URI"]; u == "" || strings.Contains(u, "<") {
		v["ADDIN_APP_ID_URI"] = "api://" + domain + "/" + v["ADDIN_CLIENT_ID"]
	}
	tenant := v["ADDIN_TENANT_ID"]
	if tenant == "" {
		tenant = "organizations"
	}
	authorityHost := v["ENTRA_AUTHORITY_HOST"]
	if authorityHost == "" {
		authorityHost = "https://login.microsoftonline.com"
	}
	addin := manifest.Settings{
		Domain: domain, ClientID: v["ADDIN_CLIENT_ID"], AppIDURI: v["ADDIN_APP_ID_URI"],
		GraphScopes: manifest.Scopes(v["GRAPH_SCOPES"]), GraphRoutes: manifest.Routes(v["GRAPH_ALLOWED_ROUTES"]),
		Authority: strings.TrimRight(authorityHost, "/") + "/" + tenant,
	}

	ln, err := listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
	if err != nil {
		return t, err
	}
	cert, err := devCertificate(opts.Root, opts.CertDir, t.log)
	if err != nil {
		ln.Close()
		return t, err
	}

	// The app for this machine, with the settings beside it: Core Tools reads
	// local.settings.json from its script root. The copy is rewritten each run
	// from the one in the repository root, which no build touches.
	buildDir := opts.BuildDir
	if buildDir == "" {
		buildDir = filepath.Join(opts.Root, "build", "local")
	}
	t.log.printf("local", "building the app for %s/%s into %s…", runtime.GOOS, runtime.GOARCH, buildDir)
	if err = funchost.BuildApp(opts.Root, buildDir, runtime.GOOS, runtime.GOARCH); err != nil {
		ln.Close()
		return t, err
	}
	if err = file.Write(filepath.Join(buildDir, funchost.Settings)); err != nil {
		ln.Close()
		return t, err
	}
	if t.Manifests, err = manifest.Write(addin, filepath.Join(buildDir, "manifests"), filepath.Join(opts.Root, "staticwebapp")); err != nil {
		ln.Close()
		return t, err
	}

	// Azurite on its default ports, which UseDevelopmentStorage=true names:
	// blob and queue for the Functions host (AzureWebJobsStorage), table for
	// the token cache. One already running there is used as it is.
	if azuriteRunning() {
		t.log.printf("local", "Azurite already answers on 127.0.0.1:%d; using it", azurite.TablePort)
	} else {
		azOpts := azurite.Options{HostStorage: true, Dir: filepath.Join(buildDir, "..", "azurite")}
		if opts.Verbose {
			azOpts.Stdout = t.log.writer("azurite")
		}
		if t.azurite, err = azurite.Start(ctx, azOpts); err != nil {
			ln.Close()
			return t, fmt.Errorf("%w (the Functions host needs Azurite's blob, queue and table services)", err)
		}
		t.log.printf("local", "Azurite: blob :%d, queue :%d, table :%d", azurite.BlobPort, azurite.QueuePort, azurite.TablePort)
	}

	if funcBin, lookErr := exec.LookPath("func"); lookErr == nil {
		t.HostName = "func start"
		t.log.printf("local", "starting the Functions host: func start in %s (the first run downloads the extension bundle)…", buildDir)
		t.host, err = funchost.StartHost(funcBin, buildDir, file.Host.LocalHTTPPort, t.log.writer("func"))
	} else {
		t.HostName = "the handler directly"
		t.log.printf("local", "NOTE: Azure Functions Core Tools (func) is not on PATH, so the handler runs directly, "+
			"as the Functions host would start it. Install Core Tools v4 to run under the real host.")
		t.host, err = funchost.Start(filepath.Join(buildDir, funchost.Exe(runtime.GOOS)), v, t.log.writer("handler"))
	}
	if err != nil {
		ln.Close()
		return t, err
	}

	f := newFront(opts.Root, func() string { return t.host.URL }, t.log, func() map[string]any { return manifest.PaneConfig(addin) })
	mux := http.NewServeMux()
	f.mount(mux)
	t.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(t.log.writer("swa"), "", 0),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	go t.server.ServeTLS(ln, "", "")
	t.domain, t.URL = domain, "https://"+domain+"/taskpane.html"
	return t, nil
}

// Alive reports whether the Functions host (or the handler) still runs.
func (t *Tenant) Alive() bool { return t.host.Alive() }

// Close stops everything StartTenant started.
func (t *Tenant) Close() {
	if t.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = t.server.Shutdown(ctx)
		cancel()
	}
	if t.host != nil {
		t.host.Stop()
	}
	if t.azurite != nil {
		if err := t.azurite.Stop(); err != nil {
			t.log.printf("local", "stopping Azurite: %v", err)
		}
	}
}

// readSettings reads local.settings.json, and says what the developer must still fill in.
func readSettings(root, path string) (*funchost.LocalSettings, error) {
	f, created, err := funchost.ReadSettings(root, path)
	if err != nil {
		return nil, err
	}
	if missing := f.Unfilled(requiredSettings...); len(missing) > 0 {
		how := "go run ./dev/registerapp registers an app for https://localhost:3000 with the Azure CLI and fills them in"
		if created {
			return nil, fmt.Errorf("%s did not exist: it does now, from local.settings.sample.json, with a fresh cache key. Fill in %s (%s), then run again", path, strings.Join(missing, ", "), how)
		}
		return nil, fmt.Errorf("%s: fill in %s (%s)", path, strings.Join(missing, ", "), how)
	}
	return f, nil
}

// azuriteRunning reports whether Azurite's table service answers on its default port.
func azuriteRunning() bool {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", azurite.TablePort))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return strings.HasPrefix(resp.Header.Get("Server"), "Azurite-Table")
}

// devCertificate is the localhost certificate office-addin-dev-certs makes,
// issued by a CA it installs in the OS's trust store (Office, Edge and
// WebView2 trust it; "Generate an SSL certificate for localhost issued by a
// CA certificate which is installed", its `install` command says). The files
// live in ~/.office-addin-dev-certs; a missing or expiring one is made anew
// (the OS asks to trust the CA once).
func devCertificate(root, dir string, log *prefixer) (tls.Certificate, error) {
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return tls.Certificate{}, err
		}
		dir = filepath.Join(home, ".office-addin-dev-certs")
	}
	crt, key := filepath.Join(dir, "localhost.crt"), filepath.Join(dir, "localhost.key")
	cert, err := tls.LoadX509KeyPair(crt, key)
	if err == nil && validFor(cert, time.Hour) {
		return cert, nil
	}
	cli := filepath.Join(root, "node_modules", "office-addin-dev-certs", "cli.js")
	node, nodeErr := exec.LookPath("node")
	if _, statErr := os.Stat(cli); statErr != nil || nodeErr != nil {
		return tls.Certificate{}, errors.New("office-addin-dev-certs is not installed: run npm ci in the repository root (Node.js 20+)")
	}
	log.printf("local", "making a localhost certificate: npx office-addin-dev-certs install (your OS asks you to trust its CA)…")
	cmd := exec.Command(node, cli, "install")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return tls.Certificate{}, fmt.Errorf("office-addin-dev-certs install: %w", err)
	}
	return tls.LoadX509KeyPair(crt, key)
}

func validFor(c tls.Certificate, d time.Duration) bool {
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	return err == nil && time.Now().Add(d).Before(leaf.NotAfter) && leaf.VerifyHostname("localhost") == nil
}

// sideloadHelp says what to sideload where, with the manifests just written.
func (t *Tenant) sideloadHelp() string {
	outlook, docs, unified := t.Manifests[0], t.Manifests[1], t.Manifests[2]
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	return fmt.Sprintf(`
  Task pane  %s   (certificate: office-addin-dev-certs)
  /api       forwarded to %s on %s, as Static Web Apps does

  Sideload one of the manifests written for https://%s:
    Outlook on the web   open https://aka.ms/olksideload, then My add-ins > Custom Addins >
                         Add a custom add-in > Add from File... > %s
    Outlook on Windows   npx office-addin-debugging start %s desktop --app outlook
    Outlook on Mac       Get Add-ins > My add-ins > Add a custom add-in > Add from File... > %s
    Word, Excel, PowerPoint (Windows or Mac)
                         npx office-addin-debugging start %s desktop --app word   (or excel, powerpoint)
    Unified manifest (Outlook on Windows only)
                         npx office-addin-debugging start %s desktop --app outlook
  Open a message, choose "Who am I" on the ribbon. Ctrl-C stops everything.
`, t.URL, t.HostName, t.host.URL, t.domain,
		rel(outlook), rel(outlook), rel(outlook), rel(docs), rel(unified))
}
