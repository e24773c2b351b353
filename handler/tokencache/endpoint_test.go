package tokencache

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/dev/testca"
	"github.com/addinsso/addinsso/handler/config"
)

const endpointEnv = "TOKENCACHE_TEST_ENDPOINT"

// TestEndpointWithCredential drives the production path, TOKEN_CACHE_ENDPOINT
// with a token credential, against Azurite serving https and checking bearer
// tokens. The handler trusts a test CA only through SSL_CERT_FILE, which Go
// reads once per process, so the check runs in a child process of this test
// binary with that variable set.
func TestEndpointWithCredential(t *testing.T) {
	if ep := os.Getenv(endpointEnv); ep != "" {
		endpointChild(t, ep)
		return
	}
	t.Parallel()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := azurite.ForTestWith(t, azurite.Options{TLS: ca, OAuth: true})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEndpointWithCredential$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile, endpointEnv+"="+srv.TableEndpoint())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEndpointWithCredential") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// storageCredential stands in for the managed identity.
type storageCredential struct {
	mu     sync.Mutex
	scopes []string
}

func (c *storageCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = o.Scopes
	return azcore.AccessToken{Token: azurite.UnsignedStorageToken(time.Now()), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func endpointChild(t *testing.T, endpoint string) {
	l := newLogs(t)
	cred := &storageCredential{}
	cfg := config.TokenCache{Endpoint: endpoint, Table: tableName(), Keys: []config.Key{testKey("k1")}}
	opts := Options{Logger: l.logger(), Credential: cred}
	writer, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := keyOf(tenantA, userA, scopes...)
	tok := l.token(time.Now().Add(time.Hour))
	writer.Put(ctx, k, tok)
	reader, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, src, ok := reader.Get(ctx, k); !ok || src != Table || got.AccessToken != tok.AccessToken {
		t.Fatalf("Get through TOKEN_CACHE_ENDPOINT = %v, %q\n%s", ok, src, l.String())
	}
	if len(cred.scopes) != 1 || cred.scopes[0] != "https://storage.azure.com/.default" {
		t.Errorf("token requested for %v, want Table Storage's scope", cred.scopes)
	}
}
