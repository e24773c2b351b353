package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/manifest"
)

// addin is what one manifest says about SSO: its WebApplicationInfo (Id, the
// client ID; Resource, the Application ID URI Office asks a token for) and
// the host its pane is served from.
type addin struct {
	file, id, resource, host string
}

// readManifests reads the manifests package manifest writes (its file names)
// from dir; missing files are skipped.
func readManifests(dir string, r *report) []addin {
	var out []addin
	for _, name := range []string{manifest.Outlook, manifest.Documents, manifest.Unified} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var a addin
		if err == nil {
			if name == manifest.Unified {
				a, err = parseUnified(b)
			} else {
				a, err = parseXML(b)
			}
		}
		if err != nil {
			r.add(Finding{ID: "manifest.unreadable", Severity: Error, What: fmt.Sprintf("%s: %v", path, err),
				Symptom: "Office refuses to sideload or install the add-in",
				Fix:     "write the manifests again: npm run local, or go run ./manifest/generate"})
			continue
		}
		a.file = name
		out = append(out, a)
	}
	if len(out) == 0 {
		r.Checked = append(r.Checked, "manifests: none in "+dir)
	} else {
		r.Checked = append(r.Checked, fmt.Sprintf("manifests: %d in %s", len(out), dir))
	}
	return out
}

// parseXML reads an add-in only manifest: the first SourceLocation and the
// WebApplicationInfo, wherever VersionOverrides nests them.
func parseXML(b []byte) (addin, error) {
	var a addin
	d := xml.NewDecoder(strings.NewReader(string(b)))
	var path []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return a, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			if t.Name.Local == "SourceLocation" && a.host == "" {
				for _, at := range t.Attr {
					if at.Name.Local == "DefaultValue" {
						a.host = hostOf(at.Value)
					}
				}
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		case xml.CharData:
			if len(path) >= 2 && path[len(path)-2] == "WebApplicationInfo" {
				switch v := strings.TrimSpace(string(t)); path[len(path)-1] {
				case "Id":
					a.id = v
				case "Resource":
					a.resource = v
				}
			}
		}
	}
	return a, nil
}

// parseUnified reads the unified manifest's webApplicationInfo and the
// pane's URL (its static tab or the extension's runtime page).
func parseUnified(b []byte) (addin, error) {
	var m struct {
		WebApplicationInfo struct{ ID, Resource string } `json:"webApplicationInfo"`
		ValidDomains       []string                      `json:"validDomains"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return addin{}, err
	}
	a := addin{id: m.WebApplicationInfo.ID, resource: m.WebApplicationInfo.Resource}
	if len(m.ValidDomains) > 0 {
		a.host = m.ValidDomains[0]
	}
	return a, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// checkManifests compares each manifest's SSO section with the settings and
// the add-in's domain; a mistake is one finding, naming every file with it.
func checkManifests(cfg *config.Config, domain string, addins []addin, r *report) {
	want := expectedAppIDURI(cfg, domain)
	wrong := func(bad func(a addin) bool) (files []string, first addin) {
		for _, a := range addins {
			if bad(a) {
				if files == nil {
					first = a
				}
				files = append(files, a.file)
			}
		}
		return files, first
	}
	if files, a := wrong(func(a addin) bool { return !strings.EqualFold(a.id, cfg.ClientID) }); files != nil {
		r.add(Finding{ID: "manifest.client-id", Severity: Error,
			What:    fmt.Sprintf("%s: WebApplicationInfo Id is %q, not ADDIN_CLIENT_ID %s", strings.Join(files, ", "), a.id, cfg.ClientID),
			Symptom: "13004 (invalid resource) or 13007 at getAccessToken: Office asks Entra for a token of another app",
			Fix:     "write the manifests from the same settings (npm run local does; or go run ./manifest/generate -client-id <ADDIN_CLIENT_ID>), remove the old add-in and sideload again"})
	}
	if files, a := wrong(func(a addin) bool { return a.resource != want }); files != nil {
		r.add(Finding{ID: "manifest.resource", Severity: Error,
			What:    fmt.Sprintf("%s: WebApplicationInfo Resource is %q, not the Application ID URI %s", strings.Join(files, ", "), a.resource, want),
			Symptom: "13004 (invalid resource) at getAccessToken; Entra's AADSTS500011 (resource principal not found) behind it",
			Fix:     "write the manifests again with the registration's App ID URI (go run ./manifest/generate -app-id-uri " + want + "), remove the old add-in and sideload again"})
	}
	if files, a := wrong(func(a addin) bool { return a.resource != "" && !strings.EqualFold(hostOf(a.resource), domain) }); files != nil {
		r.add(Finding{ID: "manifest.resource-domain", Severity: Error,
			What:    fmt.Sprintf("%s: Resource %s is not on the add-in's domain %s", strings.Join(files, ", "), a.resource, domain),
			Symptom: "13004 (invalid resource) at getAccessToken: Office gets a token only for a resource on the add-in's own domain",
			Fix:     "use api://" + domain + "/" + cfg.ClientID + " as the App ID URI (portal: Expose an API > Application ID URI), set ADDIN_APP_ID_URI to it and write the manifests again"})
	}
	if isLocal(domain) && hasOutlook(addins) {
		r.add(Finding{ID: "outlook.formsgraphaccess", Severity: Info,
			What:    "the Outlook add-in is sideloaded (" + domain + "): Office cannot promise Graph consent for an add-in no administrator deployed",
			Symptom: "13012 at getAccessToken({ forMSGraphAccess: true }) in Outlook; the pane asks again without it (expected, not a failure)",
			Fix:     "nothing to do when sideloading; deployed through the Microsoft 365 admin center with admin consent, forMSGraphAccess succeeds"})
	}
}

// expectedAppIDURI is ADDIN_APP_ID_URI, or what the manifest package writes
// when it is unset.
func expectedAppIDURI(cfg *config.Config, domain string) string {
	if cfg.AppIDURI != "" {
		return cfg.AppIDURI
	}
	return "api://" + domain + "/" + cfg.ClientID
}

func hasOutlook(addins []addin) bool {
	for _, a := range addins {
		if a.file == manifest.Outlook || a.file == manifest.Unified {
			return true
		}
	}
	return false
}

func isLocal(domain string) bool {
	h := domain
	if i := strings.LastIndex(h, ":"); i > 0 {
		h = h[:i]
	}
	return h == "localhost" || h == "127.0.0.1" || h == "[::1]"
}
