package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/addinsso/addinsso/dev/funchost"
)

// fakeAz answers like the Azure CLI and keeps each call's arguments and the
// JSON body az rest was given, in order.
const fakeAz = `#!/bin/sh
n=$(ls "$AZ_LOG" | grep -c args)
printf '%s\n' "$@" > "$AZ_LOG/$n.args"
for a in "$@"; do case "$a" in @*) cp "${a#@}" "$AZ_LOG/$n.body";; esac; done
case "$1 $2" in
  "account show") echo 11111111-1111-4111-8111-111111111111 ;;
  "ad sp") [ "$3" = show ] && echo '[{"id":"e1fe6dd8-ba31-4d61-89e7-88639da4683d","value":"User.Read"},{"id":"570282fd-fa5c-430d-a7fd-fc8dc98a9dca","value":"Mail.Read"},{"id":"37f7f235-527c-4136-accd-4a02d197296e","value":"openid"},{"id":"14dad69e-099b-42c9-810b-d002981feec1","value":"profile"},{"id":"7427e0e9-2fba-42fe-b0c0-848c9e6a8182","value":"offline_access"}]' ;;
  "rest --method") [ "$3" = POST ] && echo '{"id":"0bj3c700-0000-4000-8000-000000000001","appId":"c11e4700-0000-4000-8000-000000000002"}' ;;
  "ad app") echo 'S3cret~local' ;;
esac
exit 0
`

func TestRegistration(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fake az is a shell script")
	}
	root, err := funchost.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, logs := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "az"), []byte(fakeAz), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("AZ_LOG", logs)
	settings := filepath.Join(t.TempDir(), "local.settings.json")

	if err := run("localhost:3000", "addinsso (local)", "", settings); err != nil {
		t.Fatal(err)
	}

	body := func(n int) map[string]any {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(logs, strconv.Itoa(n)+".body"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	created, patched := body(2), body(3)
	if created["signInAudience"] != "AzureADMultipleOrgs" {
		t.Errorf("signInAudience %v", created["signInAudience"])
	}
	api := created["api"].(map[string]any)
	scope := api["oauth2PermissionScopes"].([]any)[0].(map[string]any)
	if api["requestedAccessTokenVersion"] != float64(2) || scope["value"] != "access_as_user" {
		t.Errorf("api %v", api)
	}
	var redirects []string
	for _, r := range created["spa"].(map[string]any)["redirectUris"].([]any) {
		redirects = append(redirects, r.(string))
	}
	if !slices.Equal(redirects, []string{"https://localhost:3000/fallbackauthdialog.html", "brk-multihub://localhost:3000"}) {
		t.Errorf("SPA redirects %v", redirects)
	}
	access := created["requiredResourceAccess"].([]any)[0].(map[string]any)["resourceAccess"].([]any)
	if len(access) != 5 { // openid, profile, offline_access, User.Read, Mail.Read (the sample's GRAPH_SCOPES)
		t.Errorf("Graph permissions %v", access)
	}

	if uris := patched["identifierUris"].([]any); len(uris) != 1 || uris[0] != "api://localhost:3000/c11e4700-0000-4000-8000-000000000002" {
		t.Errorf("identifierUris %v", uris)
	}
	pre := patched["api"].(map[string]any)["preAuthorizedApplications"].([]any)
	var clients []string
	for _, p := range pre {
		p := p.(map[string]any)
		clients = append(clients, p["appId"].(string))
		if ids := p["delegatedPermissionIds"].([]any); len(ids) != 1 || ids[0] != scope["id"] {
			t.Errorf("pre-authorised for %v, want the access_as_user scope %v", ids, scope["id"])
		}
	}
	if !slices.Contains(clients, "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e") {
		t.Errorf("Office is not pre-authorised: %v", clients)
	}

	s, created2, err := funchost.ReadSettings(root, settings)
	if err != nil || created2 {
		t.Fatal(err)
	}
	if s.Values["ADDIN_CLIENT_ID"] != "c11e4700-0000-4000-8000-000000000002" || s.Values["ADDIN_CLIENT_SECRET"] != "S3cret~local" ||
		s.Values["ADDIN_APP_ID_URI"] != "api://localhost:3000/c11e4700-0000-4000-8000-000000000002" || len(s.Unfilled("TOKEN_CACHE_ENCRYPTION_KEY")) != 0 {
		t.Errorf("settings written: %v", s.Values)
	}
	if fi, _ := os.Stat(settings); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s is mode %v: it holds a secret", settings, fi.Mode().Perm())
	}
}
