package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
)

const clientID = "11111111-2222-4333-8444-555555555555"

// Keys from openssl rand -base64 32; key2 written unpadded, as base64url.
const (
	key1 = "k1:8lmTCOipRLFuTM4qsWjOWEPok38rdkpv9Xt65182XPc="
	key2 = "k2:V8mLxOwbrYhhIWWc3VdmSeDzTcrGoi4HUURkG5f449A"
)

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
		c.TokenCache.Table != "graphtokens" || c.TokenCache.UsesTableStorage() || c.Port != "8080" || len(c.Warnings) != 0 {
		t.Errorf("defaults = %+v", c)
	}
}

func TestValid(t *testing.T) {
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
	goodKey := key1
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
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "GET /v1.0/me, POST /v1.0/$batch"}, "GRAPH_ALLOWED_ROUTES", "$batch"},
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "GET /v1.0/{resource}/{id}"}, "GRAPH_ALLOWED_ROUTES", "placeholder"},
		{map[string]string{"GRAPH_ALLOWED_ROUTES": "GET /{version}/me"}, "GRAPH_ALLOWED_ROUTES", "placeholder"},
		{map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true", "TOKEN_CACHE_ENDPOINT": "https://x.table.core.windows.net"}, "TOKEN_CACHE_ENDPOINT", "not both"},
		{map[string]string{"TOKEN_CACHE_ENDPOINT": "http://x.table.core.windows.net", "TOKEN_CACHE_ENCRYPTION_KEY": goodKey}, "TOKEN_CACHE_ENDPOINT", "https"},
		{map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5", "TOKEN_CACHE_ENCRYPTION_KEY": goodKey}, "TOKEN_CACHE_CONNECTION_STRING", "https"},
		{map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "AccountName=a;AccountKey=a2V5;TableEndpoint=http://10.0.0.4:10002/a", "TOKEN_CACHE_ENCRYPTION_KEY": goodKey}, "TOKEN_CACHE_CONNECTION_STRING", "not loopback"},
		{map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite", "TOKEN_CACHE_ENCRYPTION_KEY": goodKey}, "TOKEN_CACHE_CONNECTION_STRING", "not loopback"},
		{map[string]string{"TOKEN_CACHE_TABLE": "graph-tokens"}, "TOKEN_CACHE_TABLE", "table name"},
		{map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true"}, "TOKEN_CACHE_ENCRYPTION_KEY", "not set"},
		{map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": "k1:c2hvcnQ="}, "TOKEN_CACHE_ENCRYPTION_KEY", "32 bytes"},
		{map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": strings.Repeat("A", 44)}, "TOKEN_CACHE_ENCRYPTION_KEY", "<id>:"},
		{map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": goodKey + "," + goodKey}, "TOKEN_CACHE_ENCRYPTION_KEY", "twice"},
		{map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": key2 + ",k1:" + strings.Repeat("A", 43) + "="}, "TOKEN_CACHE_ENCRYPTION_KEY", `key "k1" is not random`},
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

// Keys that decode to 32 bytes but were plainly not drawn at random are
// refused, naming the key and never quoting it; random keys pass.
func TestKeysMustLookRandom(t *testing.T) {
	stepping := func(from byte, step int) []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = from + byte(i*step)
		}
		return b
	}
	counting := stepping(0, 1)
	pattern := []byte(strings.Repeat("\x8f\x13\xe2\x07\x5a\xc1\x99\x2e\x44\xb0\x71\x0d\xfe\x36\x68", 3))[:32]
	for _, tt := range []struct {
		name string
		key  []byte
		says string // which rule
	}{
		{"all zero", make([]byte, 32), "distinct byte values"},
		{"one byte", bytes.Repeat([]byte{0xa5}, 32), "distinct byte values"},
		{"15 values", pattern, "distinct byte values"},
		{"counting", counting, "pattern"},
		{"counting down by 7", stepping(0xf0, -7), "pattern"},
		{"typed password", []byte("Correct-Horse-Battery-Staple-42!"), "printable"},
		{"hex text", []byte("9f86d081884c7d659a2feaa0c55ad015"), "distinct byte values"},
		{"base64 text", []byte("q2JxLw8N+3Zt0vYpKfR7sUe9HaGmDcBi"), "printable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b64 := base64.StdEncoding.EncodeToString(tt.key)
			_, err := Load(env(map[string]string{"TOKEN_CACHE_ENCRYPTION_KEY": key1 + ",weak:" + b64}))
			if err == nil || !strings.HasPrefix(err.Error(), `TOKEN_CACHE_ENCRYPTION_KEY: key "weak" is not random`) ||
				!strings.Contains(err.Error(), tt.says) || strings.Contains(err.Error(), b64) {
				t.Errorf("err = %v, want one naming the key and saying %q", err, tt.says)
			}
		})
	}
	// Random keys pass; a rule refusing one random key in a hundred would
	// fail here but once in 500 million runs.
	for i := range 2000 {
		key := make([]byte, 32)
		rand.Read(key)
		if why := notRandom(key); why != "" {
			t.Fatalf("random key %d refused: %s", i, why)
		}
	}
}

// Secrets never appear in configuration errors: each value below is wrong
// and holds the marker where the secret would be.
func TestErrorsHideSecrets(t *testing.T) {
	const secret = "S3cr3tV4lu3"
	const key = "c2VjcmV0" + secret + "=="
	tests := []map[string]string{
		// The client secret, beside another credential.
		{"ADDIN_CLIENT_SECRET": secret, "ADDIN_CLIENT_CERTIFICATE_PATH": "/cert.pem"},
		{"ADDIN_CLIENT_SECRET": secret, "ADDIN_FEDERATED_IDENTITY_CLIENT_ID": "dddddddd-dddd-4ddd-8ddd-dddddddddddd"},
		// Encryption keys: malformed, of the wrong size, not random, twice.
		{"TOKEN_CACHE_ENCRYPTION_KEY": secret},
		{"TOKEN_CACHE_ENCRYPTION_KEY": "k1:" + secret},
		{"TOKEN_CACHE_ENCRYPTION_KEY": "k1 " + secret + secret},
		{"TOKEN_CACHE_ENCRYPTION_KEY": "k1:" + base64.StdEncoding.EncodeToString([]byte(secret+secret+secret+"xx"))},
		{"TOKEN_CACHE_ENCRYPTION_KEY": "bad id!:" + secret},
		{"TOKEN_CACHE_ENCRYPTION_KEY": "k1:" + secret + ",k1:" + secret},
		// Connection strings: over http, malformed, with parts in the wrong place.
		{"TOKEN_CACHE_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=" + key},
		{"TOKEN_CACHE_CONNECTION_STRING": "DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey=" + key},
		{"TOKEN_CACHE_CONNECTION_STRING": "AccountName=a;AccountKey=" + key + ";TableEndpoint=http://storage.example/a"},
		{"TOKEN_CACHE_CONNECTION_STRING": "AccountName=a;SharedAccessSignature=sv=2024&sig=" + secret + ";TableEndpoint=http://storage.example/a"},
		{"TOKEN_CACHE_CONNECTION_STRING": "AccountName=a;AccountKey=" + key + ";TableEndpoint=http://user:" + secret + "@127.0.0.1/a"},
		{"TOKEN_CACHE_CONNECTION_STRING": "AccountName=a;TableEndpoint=https://x/%zz?sig=" + secret + ";AccountKey=" + key},
		{"TOKEN_CACHE_CONNECTION_STRING": "AccountName=a;" + key},
		{"TOKEN_CACHE_CONNECTION_STRING": secret},
		{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true;AccountKey=" + key},
		{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true;" + key},
		{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=" + secret},
		{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://u:" + secret + "@proxy"},
		{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=" + secret},
		{"TOKEN_CACHE_CONNECTION_STRING": "DevelopmentStorageProxyUri=https://proxy/?sig=" + secret},
		{"TOKEN_CACHE_CONNECTION_STRING": "AccountName=a;AccountKey=" + key, "TOKEN_CACHE_ENDPOINT": "https://a.table.core.windows.net"},
		// Secrets pasted where a URL belongs: a connection string, a SAS, a password.
		{"TOKEN_CACHE_ENDPOINT": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + key},
		{"TOKEN_CACHE_ENDPOINT": "https://a.table.core.windows.net/?sv=2024&sig=" + secret},
		{"TOKEN_CACHE_ENDPOINT": "http://a.table.core.windows.net/?sig=" + secret},
		{"TOKEN_CACHE_ENDPOINT": "https://a.table.core.windows.net/#" + secret},
		{"TOKEN_CACHE_ENDPOINT": "https://user:" + secret + "@a.table.core.windows.net"},
		{"ENTRA_AUTHORITY_HOST": "https://user:" + secret + "@login.microsoftonline.com"},
		{"GRAPH_BASE_URL": "https://graph.microsoft.com/v1.0?access_token=" + secret},
	}
	for _, set := range tests {
		if set["TOKEN_CACHE_ENCRYPTION_KEY"] == "" {
			set["TOKEN_CACHE_ENCRYPTION_KEY"] = key1
		}
		_, err := Load(env(set))
		if err == nil {
			t.Errorf("%v: accepted", set)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

// Hosts other than Microsoft's load, with one warning each naming the setting.
func TestWarnings(t *testing.T) {
	for _, tt := range []struct {
		authority, graph string
		want             []string // prefixes, in order
	}{
		{"https://login.microsoftonline.com", "https://graph.microsoft.com", nil},
		{"https://LOGIN.microsoftonline.us:443", "https://dod-graph.microsoft.us/", nil},
		{"https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn", nil},
		{"https://login.chinacloudapi.cn", "https://graph.microsoft.us", nil},
		{"https://127.0.0.1:9443", "https://graph.microsoft.com", []string{`ENTRA_AUTHORITY_HOST: "https://127.0.0.1:9443" is not one of Microsoft's hosts`}},
		{"https://login.microsoftonline.com:8443", "https://graph.microsoft.com.evil.example", []string{"ENTRA_AUTHORITY_HOST: ", `GRAPH_BASE_URL: "https://graph.microsoft.com.evil.example" is not one of Microsoft's hosts`}},
	} {
		c, err := Load(env(map[string]string{"ENTRA_AUTHORITY_HOST": tt.authority, "GRAPH_BASE_URL": tt.graph}))
		if err != nil {
			t.Fatal(err)
		}
		ok := len(c.Warnings) == len(tt.want)
		for i := 0; ok && i < len(tt.want); i++ {
			ok = strings.HasPrefix(c.Warnings[i], tt.want[i]) && !strings.Contains(c.Warnings[i], "\n")
		}
		if !ok {
			t.Errorf("%s, %s: warnings %q, want %q", tt.authority, tt.graph, c.Warnings, tt.want)
		}
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
