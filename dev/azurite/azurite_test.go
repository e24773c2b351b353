package azurite

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/dev/testca"
)

// TestServer drives the connection string with the same SDK the handler uses.
func TestServer(t *testing.T) {
	t.Parallel()
	s := ForTest(t)
	want := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + AccountKey +
		";TableEndpoint=http://127.0.0.1:" + strconv.Itoa(s.Port()) + "/devstoreaccount1;"
	if got := s.ConnectionString(); got != want {
		t.Fatalf("ConnectionString() = %q, want %q", got, want)
	}
	addAndGet(t, s, "roundtrip")
}

func addAndGet(t *testing.T, s *Server, table string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	svc, err := aztables.NewServiceClientFromConnectionString(s.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := svc.NewClient(table)
	if _, err := c.CreateTable(ctx, nil); err != nil {
		var re interface{ Error() string }
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "TableAlreadyExists") {
			t.Fatalf("CreateTable: %v", err)
		}
	}
	if _, err := c.AddEntity(ctx, []byte(`{"PartitionKey":"p","RowKey":"r","V":"x"}`), nil); err != nil && !strings.Contains(err.Error(), "EntityAlreadyExists") {
		t.Fatalf("AddEntity: %v", err)
	}
	if _, err := c.GetEntity(ctx, "p", "r", nil); err != nil {
		t.Fatalf("GetEntity: %v", err)
	}
}

func TestDirPersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	requireTool(t)
	dir := t.TempDir()
	s1, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addAndGet(t, s1, "persisted")
	if err := s1.Stop(); err != nil {
		t.Fatal(err)
	}
	s2, err := Start(context.Background(), Options{Dir: dir, Port: s1.Port()})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	svc, err := aztables.NewServiceClientFromConnectionString(s2.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.NewClient("persisted").GetEntity(context.Background(), "p", "r", nil); err != nil {
		t.Fatalf("entity lost across restart with Dir: %v", err)
	}
}

func TestPortTaken(t *testing.T) {
	t.Parallel()
	requireTool(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	start := time.Now()
	s, err := Start(context.Background(), Options{Port: port})
	if err == nil {
		s.Stop()
		t.Fatalf("Start on a taken port succeeded")
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("failing took %v; it should notice Azurite's exit", time.Since(start))
	}
	t.Logf("error (expected): %v", err)
}

func TestNotInstalled(t *testing.T) {
	if _, err := exec.LookPath(Tool); err == nil {
		t.Skip(Tool + " is on PATH")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if _, err := Start(context.Background(), Options{}); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start without Azurite: err = %v, want ErrNotInstalled", err)
	}
}

// bearer mints the unsigned access tokens Azurite's basic OAuth check accepts.
type bearer struct{ scopes []string }

func (b *bearer) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	b.scopes = o.Scopes
	return azcore.AccessToken{Token: UnsignedStorageToken(time.Now()), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestTLSAndOAuth(t *testing.T) {
	t.Parallel()
	ca, err := testca.New()
	if err != nil {
		t.Fatal(err)
	}
	s := ForTestWith(t, Options{TLS: ca, OAuth: true})
	if !strings.HasPrefix(s.TableEndpoint(), "https://127.0.0.1:") {
		t.Fatalf("TableEndpoint() = %q, want https", s.TableEndpoint())
	}
	opts := &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: ca.Client()}}
	cred := &bearer{}
	svc, err := aztables.NewServiceClient(s.TableEndpoint(), cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateTable(context.Background(), "oauth", nil); err != nil {
		t.Fatalf("CreateTable with a bearer token: %v", err)
	}
	if len(cred.scopes) != 1 || cred.scopes[0] != "https://storage.azure.com/.default" {
		t.Errorf("token requested for %v", cred.scopes)
	}
	// Without a token Azurite refuses, so the check above means something.
	anon, err := aztables.NewServiceClientWithNoCredential(s.TableEndpoint(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.CreateTable(context.Background(), "anonymous", nil); err == nil {
		t.Fatal("Azurite with OAuth accepted a request without a token")
	}
}
