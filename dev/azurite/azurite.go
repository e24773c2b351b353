// Package azurite runs a real Azurite Table service (the npm package the
// project installs) for tests and the local sandbox, so the token cache is
// exercised against the same wire protocol as Azure Table Storage rather than
// a fake of our own.
//
// It is a development tool: nothing in handler/ imports it.
package azurite

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/testca"
)

// Azurite's single development account. The key is public: it is printed in
// Microsoft's Azurite documentation and is the same on every machine.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Tool is the executable Start runs, as npm installs it under node_modules/.bin.
const Tool = "azurite-table"

// ErrNotInstalled means azurite-table was found neither under the module's
// node_modules nor on PATH.
var ErrNotInstalled = errors.New("azurite: " + Tool + " is not installed (run npm ci in the repository root)")

const startTimeout = 30 * time.Second

// Options says how to run Azurite.
type Options struct {
	// Dir persists the tables in this directory; empty keeps them in memory only.
	Dir string
	// Port to listen on; 0 picks a free one.
	Port int
	// Stdout receives Azurite's output (its access log included); nil discards it.
	Stdout io.Writer
	// TLS serves https with a certificate issued by this CA; clients trust it
	// through SSL_CERT_FILE, as the handler trusts the other emulators.
	TLS *testca.CA
	// OAuth makes Azurite accept bearer tokens, as Table Storage does for a
	// managed identity. Azurite's "basic" check reads the issuer, audience
	// and lifetime but not the signature. It requires TLS.
	OAuth bool
}

// Server is a running Azurite Table service on 127.0.0.1.
type Server struct {
	port    int
	scheme  string
	persist bool   // tables live in a directory, so Stop lets Azurite flush them
	tempDir string // certificate files, removed by Stop
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited

	stopOnce sync.Once
	stopErr  error
}

// Start runs azurite-table and returns once it answers HTTP on its port
// (within 30 seconds, or ctx's deadline if sooner). With Options.Port 0 it picks
// a free loopback port itself, because Azurite reports ":0" rather than the
// port the kernel gave it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := findTool()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// A free port can be taken by someone else between our probe and Azurite's
	// listen; Azurite then exits, and we try another port.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	for i := 0; ; i++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s, err := start(ctx, bin, port, opts)
		if err == nil || i+1 >= attempts || ctx.Err() != nil {
			return s, err
		}
	}
}

func start(ctx context.Context, bin string, port int, opts Options) (*Server, error) {
	if opts.OAuth && opts.TLS == nil {
		return nil, errors.New("azurite: OAuth needs TLS")
	}
	args := []string{"--disableTelemetry", "--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(port)}
	s := &Server{port: port, scheme: "http", persist: opts.Dir != "", done: make(chan struct{})}
	probe := &http.Client{Timeout: time.Second}
	if opts.TLS != nil {
		dir, err := os.MkdirTemp("", "azurite-tls-")
		if err != nil {
			return nil, err
		}
		s.tempDir, s.scheme = dir, "https"
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := writeServerCert(opts.TLS, cert, key); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args = append(args, "--cert", cert, "--key", key)
		probe = opts.TLS.Client()
		probe.Timeout = time.Second
	}
	if opts.OAuth {
		args = append(args, "--oauth", "basic")
	}
	if opts.Dir != "" {
		args = append(args, "--location", opts.Dir)
	} else {
		args = append(args, "--inMemoryPersistence")
	}
	if opts.Stdout == nil {
		args = append(args, "--silent")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = os.TempDir() // never litter the caller's directory
	var tail tailBuffer    // startup failures are reported with Azurite's last words
	out := io.Writer(&tail)
	if opts.Stdout != nil {
		out = io.MultiWriter(&tail, opts.Stdout)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(s.tempDir)
		return nil, fmt.Errorf("azurite: starting %s: %w", bin, err)
	}
	s.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx, probe); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("azurite: %s on port %d: %w; output: %s", Tool, port, err, strings.TrimSpace(tail.String()))
	}
	return s, nil
}

// waitReady polls until the port answers as Azurite. Checking the Server
// header, not just that the port accepts, guards against another program
// having taken the port.
func (s *Server) waitReady(ctx context.Context, client *http.Client) error {
	url := fmt.Sprintf("%s://127.0.0.1:%d/", s.scheme, s.port)
	for {
		select {
		case <-s.done:
			return errors.New("exited during start")
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := client.Get(url)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(resp.Header.Get("Server"), "Azurite-Table") {
			return fmt.Errorf("port is served by something else (Server: %q)", resp.Header.Get("Server"))
		}
		return nil
	}
}

// Port is the table service's port.
func (s *Server) Port() int { return s.port }

// TableEndpoint is the service URL aztables clients use (path-style, as Azurite serves it).
func (s *Server) TableEndpoint() string {
	return fmt.Sprintf("%s://127.0.0.1:%d/%s", s.scheme, s.port, AccountName)
}

// ConnectionString is the explicit Azurite connection string aztables
// understands (it does not know UseDevelopmentStorage=true).
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=" + s.scheme + ";AccountName=" + AccountName + ";AccountKey=" + AccountKey +
		";TableEndpoint=" + s.TableEndpoint() + ";"
}

// Stop terminates Azurite and anything it started (its whole process group).
// With a Dir it first interrupts Azurite, its graceful shutdown that writes
// the tables out; in memory there is nothing to keep, so it kills at once.
// It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		pgid := s.cmd.Process.Pid
		if s.persist {
			_ = syscall.Kill(-pgid, syscall.SIGINT) // Azurite handles SIGINT, not SIGTERM
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
			}
		}
		// Also reaches children that outlived their parent: they share the group.
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.stopErr = fmt.Errorf("azurite: killing process group %d: %w", pgid, err)
		}
		<-s.done
		if s.tempDir != "" {
			os.RemoveAll(s.tempDir)
		}
	})
	return s.stopErr
}

// ForTest starts Azurite for t and stops it when t ends. Without Azurite
// installed it skips t, except in CI (CI=true), where a missing tool must fail
// the build rather than silently skip the storage tests.
func ForTest(t testing.TB) *Server {
	t.Helper()
	return ForTestWith(t, Options{})
}

// ForTestWith is ForTest with Options, e.g. a fixed port.
func ForTestWith(t testing.TB, opts Options) *Server {
	t.Helper()
	requireTool(t)
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// requireTool skips or fails t, as ForTest documents, when Azurite is missing.
func requireTool(t testing.TB) {
	t.Helper()
	if _, err := findTool(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must run the Table Storage tests", err)
		}
		t.Skipf("skipping: %s not found (run npm ci in the repository root to install Azurite)", Tool)
	}
}

// findTool looks for node_modules/.bin/azurite-table in the working directory
// and its parents up to the module root (the directory holding go.mod), where
// npm ci puts it; PATH is the fallback for a global install.
func findTool() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "node_modules", ".bin", Tool)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if p, err := exec.LookPath(Tool); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

// UnsignedStorageToken is a bearer token that passes Azurite's basic OAuth
// check (issuer, audience, lifetime; never the signature), standing in for a
// managed identity's token in tests. Real Table Storage rejects it.
func UnsignedStorageToken(now time.Time) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"aud": "https://storage.azure.com",
		"iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/",
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	return header + "." + enc.EncodeToString(claims) + "."
}

// writeServerCert writes a certificate for 127.0.0.1 issued by ca, and its
// key, as the PEM files Azurite reads.
func writeServerCert(ca *testca.CA, certFile, keyFile string) error {
	cfg, err := ca.ServerConfig()
	if err != nil {
		return err
	}
	c := cfg.Certificates[0]
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("azurite: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailMax = 4 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - tailMax; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
