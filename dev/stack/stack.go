// Package stack runs the whole backend for end-to-end tests: the Entra ID and
// Graph emulators, real Azurite, and the handler binary driven as the Functions
// host drives it, trusting the emulators only through SSL_CERT_FILE.
package stack

import (
	"crypto/rand"
	"encoding/base64"
	"path/filepath"
	"testing"

	"github.com/addinsso/addinsso/dev/azurite"
	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/dev/graph"
)

const (
	ClientID = "11111111-2222-4333-8444-555555555555"
	Secret   = "emulator-client-secret"
	Tenant   = "aaaaaaaa-0000-4000-8000-00000000000a"
)

// Stack is a running backend.
type Stack struct {
	Entra  *entra.Server
	Graph  *graph.Server
	Table  *azurite.Server
	bin    string
	caFile string
	key    string
}

// New starts the emulators and Azurite and builds the handler; everything
// stops when the test ends. Without Azurite it fails under CI=true and skips
// elsewhere (azurite.ForTest).
func New(t testing.TB) *Stack {
	t.Helper()
	table := azurite.ForTest(t)
	dir := t.TempDir()
	bin, err := funchost.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := entra.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	emu.RegisterApp(entra.App{ClientID: ClientID, Secret: Secret})
	g, err := graph.Start(emu.CA, emu.VerifyIssued)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	caFile := filepath.Join(dir, "ca.pem")
	if err := emu.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	k := make([]byte, 32)
	rand.Read(k)
	return &Stack{Entra: emu, Graph: g, Table: table, bin: bin, caFile: caFile, key: "k1:" + base64.StdEncoding.EncodeToString(k)}
}

// Start runs a handler instance with settings pointing at the stack, plus
// overrides; it stops when the test ends.
func (s *Stack) Start(t testing.TB, overrides map[string]string) *funchost.Handler {
	t.Helper()
	vars := map[string]string{
		"ADDIN_CLIENT_ID":               ClientID,
		"ADDIN_CLIENT_SECRET":           Secret,
		"ENTRA_AUTHORITY_HOST":          s.Entra.URL,
		"GRAPH_BASE_URL":                s.Graph.URL,
		"SSL_CERT_FILE":                 s.caFile,
		"GRAPH_SCOPES":                  "User.Read Mail.Read",
		"GRAPH_ALLOWED_ROUTES":          "GET /v1.0/me, GET /v1.0/me/messages, GET /v1.0/me/photo/$value",
		"TOKEN_CACHE_CONNECTION_STRING": s.Table.ConnectionString(),
		"TOKEN_CACHE_ENCRYPTION_KEY":    s.key,
	}
	for k, v := range overrides {
		vars[k] = v
	}
	h, err := funchost.Start(s.bin, vars, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}

// NewUser is a fresh user of the stack's tenant.
func NewUser(name string) entra.User {
	return entra.User{TenantID: Tenant, ObjectID: entra.NewGUID(), Name: name, Username: name + "@a.example"}
}

// Token mints the add-in's token for u.
func (s *Stack) Token(u entra.User) string { return s.Entra.Issue(u, ClientID, entra.Token{}) }
