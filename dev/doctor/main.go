// Command doctor finds the misconfigurations behind Office's 13xxx codes and
// Entra's AADSTS errors before a user meets them. It reads what the developer
// has: the settings (local.settings.json, or the environment), the manifests
// the project writes (build/local/manifests), and the app registration as
// Microsoft Graph describes it, read-only, signed in through the Azure CLI
// (az login) with azidentity's AzureCLICredential:
//
//	go run ./dev/doctor            # npm run doctor, make doctor
//	go run ./dev/doctor -json      # for CI
//	go run ./dev/doctor -offline   # settings and manifests only
//	go run ./dev/doctor -token eyJ0eXAi...   # or -token - to read it from stdin
//
// Each finding says what is wrong, the error it produces and when, and the
// fix. The exit status is 1 when there is an error finding, 2 when doctor
// itself could not run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/handler/config"
)

// options are the command line's, and what tests set instead of the machine's.
type options struct {
	settings, manifests, domain, graph, token string
	json, offline                             bool
	now                                       time.Time
	client                                    *http.Client // Graph's; tests trust the emulator's CA with it
	stdin                                     io.Reader
}

func main() {
	root, err := funchost.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor:", err)
		os.Exit(2)
	}
	graph := os.Getenv("DOCTOR_GRAPH_URL")
	if graph == "" {
		graph = "https://graph.microsoft.com"
	}
	o := options{now: time.Now(), client: &http.Client{Timeout: 30 * time.Second}, stdin: os.Stdin}
	flag.StringVar(&o.settings, "settings", filepath.Join(root, funchost.Settings), "the settings file; when missing, the environment")
	flag.StringVar(&o.manifests, "manifests", filepath.Join(root, "build", "local", "manifests"), "the directory of the generated manifests")
	flag.StringVar(&o.domain, "domain", "", "the add-in's host[:port] (default: the manifests' pane host, else localhost:3000)")
	flag.StringVar(&o.graph, "graph", graph, "Microsoft Graph's base URL (env DOCTOR_GRAPH_URL)")
	flag.StringVar(&o.token, "token", "", "explain this bootstrap token against the settings, offline (- reads it from stdin)")
	flag.BoolVar(&o.json, "json", false, "JSON output, for CI")
	flag.BoolVar(&o.offline, "offline", false, "skip the app registration (no Graph call)")
	flag.Parse()
	os.Exit(run(context.Background(), o, os.Stdout))
}

func run(ctx context.Context, o options, out io.Writer) int {
	r := &report{}
	cfg, ok := loadSettings(o.settings, r)
	if o.token != "" {
		return runToken(cfg, ok, o, r, out)
	}
	if ok {
		addins := readManifests(o.manifests, r)
		domain := o.domain
		if domain == "" && len(addins) > 0 {
			domain = addins[0].host
		}
		if domain == "" {
			domain = "localhost:3000"
		}
		r.Checked = append(r.Checked, "add-in domain: "+domain)
		checkManifests(cfg, domain, addins, r)
		if !o.offline {
			checkGraph(ctx, cfg, domain, o, r)
		}
	}
	if o.json {
		if err := r.writeJSON(out); err != nil {
			fmt.Fprintln(os.Stderr, "doctor:", err)
			return 2
		}
	} else {
		r.writeText(out)
	}
	if r.count(Error) > 0 {
		return 1
	}
	return 0
}

// checkGraph reads the registration through Graph and checks it; a failure to
// read it is itself a finding.
func checkGraph(ctx context.Context, cfg *config.Config, domain string, o options, r *report) {
	var copts azidentity.AzureCLICredentialOptions
	if cfg.TenantID != config.MultiTenant && cfg.TenantID != config.Common {
		copts.TenantID = cfg.TenantID
	}
	cred, err := azidentity.NewAzureCLICredential(&copts)
	var reg *registration
	if err == nil {
		g := &graphReader{base: strings.TrimRight(o.graph, "/"), cred: cred, client: o.client}
		reg, err = readRegistration(ctx, g, cfg)
	}
	if err != nil {
		r.add(Finding{ID: "registration.unreadable", Severity: Error,
			What:    "could not read app registration " + cfg.ClientID + " from Microsoft Graph: " + err.Error(),
			Symptom: "nothing checked of the registration; a missing registration answers AADSTS700016 at getAccessToken (13007) and at the exchange",
			Fix:     "az login with an account of the registration's tenant that may read applications (Application.Read.All), check ADDIN_CLIENT_ID, or run with -offline"})
		return
	}
	r.Checked = append(r.Checked, "registration: "+cfg.ClientID+" through "+o.graph)
	checkRegistration(cfg, domain, reg, o.now, r)
}

func runToken(cfg *config.Config, ok bool, o options, r *report, out io.Writer) int {
	if !ok {
		r.writeText(out)
		return 1
	}
	raw := o.token
	if raw == "-" {
		b, err := io.ReadAll(io.LimitReader(o.stdin, 64<<10))
		if err != nil {
			fmt.Fprintln(os.Stderr, "doctor:", err)
			return 2
		}
		raw = string(b)
	}
	e, err := explainToken(cfg, raw, o.now)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doctor: -token:", err)
		return 2
	}
	if o.json {
		if err := writeIndented(out, e); err != nil {
			return 2
		}
	} else {
		e.writeText(out)
	}
	if e.Answer != "accepted" {
		return 1
	}
	return 0
}
