package config

import (
	"strings"
	"testing"
)

func TestExplicitConnectionString(t *testing.T) {
	const key = "AccountKey=" + azuriteAccountKey + ";"
	local := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
	real := "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net"
	for _, tc := range []struct{ in, want string }{
		{"UseDevelopmentStorage=true", local},
		{"UseDevelopmentStorage=true;", local},
		{" usedevelopmentstorage = TRUE ", local},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://localhost", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://localhost:10002/devstoreaccount1;"},
		{"DevelopmentStorageProxyUri=https://azurite:1234/;UseDevelopmentStorage=true", "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;" + key + "TableEndpoint=https://azurite:10002/devstoreaccount1;"},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://[::1]", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://[::1]:10002/devstoreaccount1;"},
		{real, real},
		{local, local},
		// Plain http to loopback, however written: Azurite.
		{"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;TableEndpoint=http://localhost:10002/a", ""},
		{"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;TableEndpoint=http://127.8.9.10:10002/a", ""},
		{"AccountName=a;AccountKey=a2V5;TableEndpoint=http://[::1]:10002/a", ""},
		// TLS anywhere; the default protocol is https.
		{"AccountName=a;AccountKey=a2V5", ""},
		{"AccountName=a;SharedAccessSignature=sv=2024&sig=x", ""},
		{"DefaultEndpointsProtocol=HTTPS;AccountName=a;AccountKey=a2V5;TableEndpoint=https://a.table.core.windows.net/", ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		got, err := ExplicitConnectionString(tc.in)
		if err != nil || got != want {
			t.Errorf("ExplicitConnectionString(%q) = %q, %v; want %q", tc.in, got, err, want)
		}
	}
	for _, tc := range []struct{ in, says string }{
		{"UseDevelopmentStorage=false", "only value is true"},
		{"UseDevelopmentStorage=true;AccountName=x", "no other part"},
		{"UseDevelopmentStorage=true;DefaultEndpointsProtocol=https", "no other part"},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=ftp://x", "not an http(s) URL"},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=not a url", "not an http(s) URL"},
		{"DevelopmentStorageProxyUri=http://x", "needs UseDevelopmentStorage=true"},
		{"not a connection string", "not name=value"},
		{"AccountKey=a2V5", "AccountName"},
		{"AccountName=a", "AccountKey"},
		// Plain http off loopback: the requests carry the account's signature.
		{"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5", "use https"},
		{"defaultendpointsprotocol=Http;AccountName=a;AccountKey=a2V5;EndpointSuffix=core.windows.net", "use https"},
		{"AccountName=a;AccountKey=a2V5;TableEndpoint=http://a.table.core.windows.net", `"a.table.core.windows.net", which is not loopback`},
		{"AccountName=a;AccountKey=a2V5;TableEndpoint=HTTP://10.1.2.3:10002/a", "not loopback"},
		{"AccountName=a;AccountKey=a2V5;TableEndpoint=http://localhost.evil.example/a", "not loopback"},
		{"AccountName=a;AccountKey=a2V5;TableEndpoint=http://128.0.0.1/a", "not loopback"},
		{"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=a2V5;TableEndpoint=https://a.table.core.windows.net", "not loopback"},
		{"AccountName=a;SharedAccessSignature=sig=x;TableEndpoint=http://a.table.core.windows.net", "not loopback"},
		{"DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey=a2V5", "neither https nor http"},
		{"AccountName=a;AccountKey=a2V5;TableEndpoint=a.table.core.windows.net", "not an http(s) URL"},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://ipv4.fiddler", "not loopback"},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://192.168.1.20", "not loopback"},
	} {
		got, err := ExplicitConnectionString(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ExplicitConnectionString(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.says)
		}
	}
}

// Load runs the same check at start and hands on the explicit string.
func TestLoadCompilesConnectionString(t *testing.T) {
	c, err := Load(env(map[string]string{"TOKEN_CACHE_CONNECTION_STRING": "UseDevelopmentStorage=true", "TOKEN_CACHE_ENCRYPTION_KEY": key1}))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := ExplicitConnectionString("UseDevelopmentStorage=true"); c.TokenCache.ConnectionString != want || !strings.Contains(want, "TableEndpoint=http://127.0.0.1:10002/") {
		t.Errorf("ConnectionString = %q, want %q", c.TokenCache.ConnectionString, want)
	}
}
