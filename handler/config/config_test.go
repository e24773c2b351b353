package config

import (
	"strings"
	"testing"
)

const clientID = "11111111-2222-4333-8444-555555555555"

// env returns a lookup over a minimal valid configuration plus overrides.
func env(overrides map[string]string) func(string) (string, bool) {
	m := map[string]string{
		"ADDIN_CLIENT_ID":     clientID,
		"ADDIN_CLIENT_SECRET": "dev-secret",
	}
	for k, v := range overrides {
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantID != MultiTenant || c.RequiredScope != "access_as_user" || c.MFA.Mode != MFAOff ||
		c.AuthorityHost != "https://login.microsoftonline.com" || c.GraphBase.String() != "https://graph.microsoft.com" ||
		len(c.GraphScopes) != 1 || c.GraphScopes[0] != "User.Read" ||
		len(c.GraphRoutes) != 1 || c.GraphRoutes[0].String() != "GET /v1.0/me" ||
		c.TokenCache.Table != "graphtokens" || c.TokenCache.UsesTableStorage() || c.Port != "8080" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestValid(t *testing.T) {
	key1 := "k1:" + strings.Repeat("A", 43) + "="
	key2 := "k2:" + strings.Repeat("B", 43)
	c, err := Load(env(map[string]string{
		"ADDIN_APP_ID_URI":              "api://contoso.example/" + clientID,
		"ADDIN_TENANT_ID":               "AAAAAAAA-0000-4000-8000-00000000000A",
		"ADDIN_ALLOWED_TENANTS":         " aaaaaaaa-0000-4000-8000-00000000000a , bbbbbbbb-0000-4000-8000-00000000000b",
		"ADDIN_MFA_POLICY":              "acrs:c12",
		"ENTRA_AUTHORITY_HOST":          "https://127.0.0.1:9443/",
		"GRAPH_BASE_URL":                "https://graph.microsoft.us/base/",
		"GRAPH_SCOPES":                  "User.Read, Mail.Read Mail.Read",
		"GRAPH_ALLOWED_ROUTES":          "GET /v1.0/me, GET /v1.0/me/messages/{id}, GET /v1.0/me/photo/$value",
		"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true",
		"TOKEN_CACHE_ENCRYPTION_KEY":    key2 + "," + key1,
		"FUNCTIONS_CUSTOMHANDLER_PORT":  "40123",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.TenantID != "aaaaaaaa-0000-4000-8000-00000000000a" {
		t.Errorf("tenant ID not lower-cased: %q", c.TenantID)
	}
	if c.MFA != (MFAPolicy{MFAACRS, "c12"}) || c.AuthorityHost != "https://127.0.0.1:9443" ||
		len(c.AllowedTenants) != 2 || c.AllowedTenants[0] != "aaaaaaaa-0000-4000-8000-00000000000a" ||
		c.GraphBase.String() != "https://graph.microsoft.us/base" ||
		strings.Join(c.GraphScopes, " ") != "User.Read Mail.Read" || len(c.GraphRoutes) != 3 ||
		len(c.TokenCache.Keys) != 2 || c.TokenCache.Keys[0].ID != "k2" || len(c.TokenCache.Keys[1].Secret) != 32 {
		t.Errorf("config = %+v", c)
	}
}

// Each bad setting stops the start with a message naming it.
func TestInvalid(t *testing.T) {
	goodKey := "k1:" + strings.Repeat("A", 43) + "="
	tests := []struct {
		set  map[string]string
		name string // the setting the message must name
		says string
	}{
		{map[string]string{"ADDIN_CLIENT_ID": ""}, "ADDIN_CLIENT_ID", "not set"},
		{map[string]string{"ADDIN_CLIENT_ID": "my-app"}, "ADDIN_CLIENT_ID", "not a GUID"},
		{map[string]string{"ADDIN_APP_ID_URI": "contoso.example"}, "ADDIN_APP_ID_URI", "Application ID URI"},
		{map[string]string{"ADDIN_TENANT_ID": "consumers"}, "ADDIN_TENANT_ID", "organizations"},
		{map[string]string{"ADDIN_ALLOWED_CLIENT_APPS": "office"}, "ADDIN_ALLOWED_CLIENT_APPS", "client ID"},
		{map[string]string{"ADDIN_ALLOWED_TENANTS": "contoso.onmicrosoft.com"}, "ADDIN_ALLOWED_TENANTS", "tenant ID"},
		{map[string]string{"ADDIN_REQUIRED_SCOPE": "access as user"}, "ADDIN_REQUIRED_SCOPE", "scope"},
		{map[string]string{"ADDIN_MFA_POLICY": "on"}, "ADDIN_MFA_POLICY", "off, amr"},
		{map[string]string{"ADDIN_MFA_POLICY": "acrs:c100"}, "ADDIN_MFA_POLICY", "c1 to c99"},
		{map[string]string{"ADDIN_MFA_POLICY": `acrs:c1"}`}, "ADDIN_MFA_POLICY", "c1 to c99"},
		{map[string]string{"ADDIN_CLIENT_SECRET": ""}, "ADDIN_CLIENT_SECRET", "no client credential"},
		{map[string]string{"ADDIN_CLIENT_CERTIFICATE_PATH": "/cert.pem"}, "ADDIN_CLIENT_SECRET", "only one"},
		{map[string]string{"ADDIN_CLIENT_SECRET": "", "ADDIN_FEDERATED_IDENTITY_CLIENT_ID": "mi"}, "ADDIN_CLIENT_SECRET", "GUID"},
		{map[string]string{"ENTRA_AUTHORITY_HOST": "http://login.microsoftonline.com"}, "ENTRA_AUTHORITY_HOST", "https"},
		{map[string]string{"ENTRA_AUTHORITY_HOST": "https://login.microsoftonline.com/common"}, "ENTRA_AUTHORITY_HOST", "path"},
		{map[string]string{"GRAPH_BASE_URL": "graph.microsoft.com"}, "GRAPH_BASE_URL", "https"},
		{map[string]string{"GRAPH_BASE_URL": "http://graph.microsoft.com"}, "GRAPH_BASE_URL", "https"},
		{map[string]string{"GRAPH_BASE_URL": "https://graph.microsoft.com?x=1"}, "GRAPH_BASE_URL", "https"},
		{map[string]string{"GRAPH_SCOPES": ","}, "GRAPH_SCOPES", "no scope"},
		{map[string]string{"GRAPH_SCOPES": "https://graph.microsoft.com/User.Read"}, "GRAPH_SCOPES", "scope name"},
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "/v1.0/me"}, "GRAPH_ALLOWED_ROUTES", "METHOD /path"},
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "GET /v1.0/../users"}, "GRAPH_ALLOWED_ROUTES", "METHOD /path"},
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "TRACE /v1.0/me"}, "GRAPH_ALLOWED_ROUTES", "METHOD /path"},
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "GET https://evil.example/x"}, "GRAPH_ALLOWED_ROUTES", "METHOD /path"},
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "GET /v1.0//me"}, "GRAPH_ALLOWED_ROUTES", "METHOD /path"},
		{map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true", "TOKEN_CACHE_ENDPOINT": "https://x.table.core.windows.net"}, "TOKEN_CACHE_ENDPOINT", "not both"},
		{map[string]string{"TOKEN_CACHE_ENDPOINT": "http://x.table.core.windows.net", "TOKEN_CACHE_ENCRYPTION_KEY": goodKey}, "TOKEN_CACHE_ENDPOINT", "https"},
		{map[string]string{"TOKEN_CACHE_TABLE": "graph-tokens"}, "TOKEN_CACHE_TABLE", "table name"},
		{map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, "TOKEN_CACHE_ENCRYPTION_KEY", "not set"},
		{map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": "k1:c2hvcnQ="}, "TOKEN_CACHE_ENCRYPTION_KEY", "32 bytes"},
		{map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": strings.Repeat("A", 44)}, "TOKEN_CACHE_ENCRYPTION_KEY", "<id>:"},
		{map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": goodKey + "," + goodKey}, "TOKEN_CACHE_ENCRYPTION_KEY", "twice"},
		{map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "http"}, "FUNCTIONS_CUSTOMHANDLER_PORT", "port"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.says, func(t *testing.T) {
			_, err := Load(env(tt.set))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.name+": ") || !strings.Contains(msg, tt.says) || strings.Contains(msg, "\n") {
				t.Errorf("message %q: want one line starting %q and containing %q", msg, tt.name, tt.says)
			}
		})
	}
}

// Secrets never appear in configuration errors.
func TestErrorsHideSecrets(t *testing.T) {
	secret := "k1:" + strings.Repeat("Z", 40)
	_, err := Load(env(map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": secret}))
	if err == nil || strings.Contains(err.Error(), strings.Repeat("Z", 40)) {
		t.Errorf("err = %v", err)
	}
}

func TestUndeclaredSettingPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("reading an undeclared setting did not panic")
		}
	}()
	reader{lookup: env(nil)}.get("NOT_A_SETTING")
}
