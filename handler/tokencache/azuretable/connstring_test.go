package azuretable

import "testing"

func TestExplicitConnectionString(t *testing.T) {
	const key = "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
	local := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
	real := "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net"
	for _, tc := range []struct{ in, want string }{
		{"UseDevelopmentStorage=true", local},
		{"UseDevelopmentStorage=true;", local},
		{" usedevelopmentstorage = TRUE ", local},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://ipv4.fiddler", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://ipv4.fiddler:10002/devstoreaccount1;"},
		{"DevelopmentStorageProxyUri=https://azurite:1234/;UseDevelopmentStorage=true", "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;" + key + "TableEndpoint=https://azurite:10002/devstoreaccount1;"},
		{"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://[::1]", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" + key + "TableEndpoint=http://[::1]:10002/devstoreaccount1;"},
		{real, real},
		{local, local},
	} {
		got, err := explicitConnectionString(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("explicitConnectionString(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"UseDevelopmentStorage=false",
		"UseDevelopmentStorage=true;AccountName=x",
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=ftp://x",
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=not a url",
		"DevelopmentStorageProxyUri=http://x",
	} {
		if got, err := explicitConnectionString(bad); err == nil {
			t.Errorf("explicitConnectionString(%q) = %q, want an error", bad, got)
		}
	}
}
