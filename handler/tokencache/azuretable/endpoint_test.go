package azuretable

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/dev/testca"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/storetest"
)

const endpointEnv = "AZURETABLE_TEST_ENDPOINT"

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
	scopes [][]string
}

func (c *storageCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, o.Scopes)
	return azcore.AccessToken{Token: azurite.UnsignedStorageToken(time.Now()), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func endpointChild(t *testing.T, endpoint string) {
	cred := &storageCredential{}
	// Azurite over TLS drops a kept-alive connection, unannounced, after a
	// request body above about 64 KiB (the suite's largest row), and net/http
	// does not resend a POST on it. Real rows stay far smaller, so this client
	// is the production one but for opening a connection per request.
	client := entra.HTTPClient()
	client.Transport.(*http.Transport).DisableKeepAlives = true
	t.Run("conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) tokencache.Store {
			s, err := New(Config{Endpoint: endpoint, Table: tableName()}, Options{Credential: cred, HTTPClient: client})
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	if len(cred.scopes) == 0 {
		t.Fatal("the credential was never asked for a token")
	}
	for _, scopes := range cred.scopes {
		if !slices.Equal(scopes, []string{"https://storage.azure.com/.default"}) {
			t.Errorf("token requested for %v, want Table Storage's scope", scopes)
		}
	}
}
