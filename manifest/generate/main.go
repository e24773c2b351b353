// Command generate writes the add-in's manifests and the task pane's
// config.json for one environment (see package manifest):
//
//	go run ./manifest/generate -domain happy-sea-0123.azurestaticapps.net \
//	    -client-id <app registration's client ID> -scopes "User.Read" -out build/pane
//
// It writes outlook.xml, word-excel-powerpoint.xml, manifest.json (with the
// icons its app package needs, in assets/) and config.json into -out. Run it
// from the repository root (or give -pane).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/addinsso/addinsso/manifest"
)

func main() {
	var s manifest.Settings
	flag.StringVar(&s.Domain, "domain", "", "host[:port] serving the task pane (no https://)")
	flag.StringVar(&s.ClientID, "client-id", "", "the app registration's client ID")
	flag.StringVar(&s.AppIDURI, "app-id-uri", "", "its Application ID URI (default api://<domain>/<client id>)")
	flag.StringVar(&s.Name, "name", "", `the add-in's name in Office (default "Add-in SSO")`)
	flag.StringVar(&s.Authority, "authority", "", "MSAL's authority for config.json (default https://login.microsoftonline.com/organizations)")
	scopes := flag.String("scopes", "User.Read", "the Function App's GRAPH_SCOPES (spaces or commas)")
	routes := flag.String("routes", "", "the Function App's GRAPH_ALLOWED_ROUTES (comma-separated METHOD /path): the pane shows only the buttons they allow")
	flag.StringVar(&s.APIBaseURL, "api-base", "/api", "where the pane's /api calls go: /api, or https://<function app>/api in the cross-origin mode")
	out := flag.String("out", "build/manifests", "the directory to write into")
	pane := flag.String("pane", "staticwebapp", "the task pane's sources, whose assets/ hold the icons")
	flag.Parse()
	s.GraphScopes = manifest.Scopes(*scopes)
	s.GraphRoutes = manifest.Routes(*routes)

	files, err := manifest.Write(s, *out, *pane)
	if err != nil {
		fmt.Fprintln(os.Stderr, "manifest:", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println(f)
	}
}
