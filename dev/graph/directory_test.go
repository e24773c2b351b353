package graph_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/addinsso/addinsso/dev/graph"
)

func TestDirectory(t *testing.T) {
	const appID = "c11e4700-0000-4000-8000-000000000002"
	emu.SetDirectory(graph.Directory{
		Applications:           []map[string]any{{"id": "a0000000-0000-4000-8000-000000000001", "appId": appID, "signInAudience": "AzureADMultipleOrgs"}},
		ServicePrincipals:      []map[string]any{{"id": "5e000000-0000-4000-8000-000000000004", "appId": appID}},
		OAuth2PermissionGrants: []map[string]any{{"clientId": "5e000000-0000-4000-8000-000000000004", "scope": "User.Read"}, {"clientId": "other", "scope": "Mail.Read"}},
	})
	defer emu.SetDirectory(graph.Directory{})
	admin, reader := graphToken(newUser("Ada Admin"), "Application.Read.All", nil), graphToken(newUser("Uma User"), "User.Read", nil)

	cases := []struct {
		name, path, tok string
		status          int
		code            string // Graph's error code, for failures
	}{
		{"application by appId", "/v1.0/applications(appId='" + appID + "')", admin, http.StatusOK, ""},
		{"service principal by appId", "/v1.0/servicePrincipals(appId='" + appID + "')", admin, http.StatusOK, ""},
		{"grants by clientId", "/v1.0/oauth2PermissionGrants?$filter=" + url.QueryEscape("clientId eq '5e000000-0000-4000-8000-000000000004'"), admin, http.StatusOK, ""},
		{"no federated credentials", "/v1.0/applications/a0000000-0000-4000-8000-000000000001/federatedIdentityCredentials", admin, http.StatusOK, ""},
		{"unknown appId", "/v1.0/applications(appId='0ff00000-0000-4000-8000-0000000000ff')", admin, http.StatusNotFound, "Request_ResourceNotFound"},
		{"without a directory permission", "/v1.0/applications(appId='" + appID + "')", reader, http.StatusForbidden, "Authorization_RequestDenied"},
		{"an unknown segment stays Graph's 400, whatever the scopes", "/v1.0/nothing", reader, http.StatusBadRequest, "BadRequest"},
		{"an unsupported filter", "/v1.0/oauth2PermissionGrants?$filter=" + url.QueryEscape("scope eq 'x'"), admin, http.StatusBadRequest, "Request_UnsupportedQuery"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, c.path, c.tok, nil)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.code != "" {
				var e odataError
				if json.Unmarshal(body, &e) != nil || e.Error.Code != c.code {
					t.Errorf("error %s, want code %s", body, c.code)
				}
				return
			}
			var v map[string]any
			if err := json.Unmarshal(body, &v); err != nil || v["@odata.context"] == nil {
				t.Errorf("answer %s lacks @odata.context", body)
			}
			if list, ok := v["value"].([]any); ok && c.name == "grants by clientId" && len(list) != 1 {
				t.Errorf("grants %v, want the one of clientId", list)
			}
		})
	}
}
