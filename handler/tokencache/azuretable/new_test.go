package azuretable

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestNewRejectsBadConfig(t *testing.T) {
	const accountKey = "c2VjcmV0LWtleQ=="
	for _, tc := range []struct {
		name    string
		cfg     Config
		setting string
	}{
		{"malformed connection string", Config{ConnectionString: "not a connection string"}, "TOKEN_CACHE_CONNECTION_STRING"},
		{"account key without a name", Config{ConnectionString: "AccountKey=" + accountKey}, "TOKEN_CACHE_CONNECTION_STRING"},
		{"account key not base64", Config{ConnectionString: "AccountName=a;AccountKey=" + accountKey + "!;TableEndpoint=http://127.0.0.1/a"}, "TOKEN_CACHE_CONNECTION_STRING"},
		{"UseDevelopmentStorage=false", Config{ConnectionString: "UseDevelopmentStorage=false"}, "TOKEN_CACHE_CONNECTION_STRING"},
		{"proxy without development storage", Config{ConnectionString: "DevelopmentStorageProxyUri=http://proxy"}, "TOKEN_CACHE_CONNECTION_STRING"},
		{"neither setting", Config{Table: "graphtokens"}, "TOKEN_CACHE_ENDPOINT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Table = "graphtokens"
			_, err := New(tc.cfg, Options{})
			if err == nil || !strings.HasPrefix(err.Error(), tc.setting+":") {
				t.Fatalf("New: err = %v, want one naming %s", err, tc.setting)
			}
			if strings.Contains(err.Error(), accountKey) {
				t.Fatalf("the error quotes the account key: %v", err)
			}
		})
	}
}

// countingCredential records that it was asked for a token.
type countingCredential struct{ calls atomic.Int32 }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{Token: "fake", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestNewMakesNoNetworkCall: the handler must answer the host's first ping at
// once, so building the store touches neither the table nor the identity endpoint.
func TestNewMakesNoNetworkCall(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan string, 16) // the client address of each connection
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- conn.RemoteAddr().String()
			conn.Close()
		}
	}()
	addr := ln.Addr().String()
	cred := &countingCredential{}
	var stores []*Store
	for _, cfg := range []Config{
		{Endpoint: "https://" + addr, Table: "graphtokens"},
		{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";TableEndpoint=http://" + addr + "/devstoreaccount1", Table: "graphtokens"},
	} {
		s, err := New(cfg, Options{Credential: cred})
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	// The default credentials must build without a network call too.
	for _, id := range []string{"", "dddddddd-dddd-4ddd-8ddd-dddddddddddd"} {
		if _, err := New(Config{Endpoint: "https://" + addr, Table: "graphtokens", ManagedIdentityClientID: id}, Options{}); err != nil {
			t.Errorf("New with the default credential (client ID %q): %v", id, err)
		}
	}
	// Connections are accepted in the order they were made, so one New made
	// would come before this probe's.
	probe, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	probe.Close()
	for from := range accepted {
		if from == probe.LocalAddr().String() {
			break
		}
		t.Errorf("New made a connection (from %s)", from)
	}
	if n := cred.calls.Load(); n != 0 {
		t.Errorf("New asked for %d tokens; want none", n)
	}
	// The listener does see the first use, so the check above can fail.
	for _, s := range stores {
		s.Get(context.Background(), "p", "r")
	}
	if n := len(accepted); n != len(stores) || cred.calls.Load() == 0 {
		t.Fatalf("first use made %d connections and %d token requests: the checks above prove nothing", n, cred.calls.Load())
	}
}
