// Package azurite runs a real Azurite Table service (the npm package the
// project installs) for tests and the local sandbox, so the token cache is
// exercised against the same wire protocol as Azure Table Storage rather than
// a fake of our own; for the Functions host, blob and queue too.
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

// Tool is the program Start runs: the azurite package's table service, or
// (Options.HostStorage) "azurite", all three services.
const Tool = "azurite-table"

// The ports UseDevelopmentStorage=true names, Azurite's defaults.
const (
	BlobPort  = 10000
	QueuePort = 10001
	TablePort = 10002
)

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
	// HostStorage also runs the blob and queue services, on BlobPort and
	// QueuePort: the Functions host's AzureWebJobsStorage=UseDevelopmentStorage=true
	// needs all three (the table then defaults to TablePort).
	HostStorage bool
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
	tool := Tool
	if opts.HostStorage {
		tool = "azurite"
		if opts.Port == 0 {
			opts.Port = TablePort
		}
	}
	bin, err := findTool(tool)
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

func start(ctx context.Context, bin []string, port int, opts Options) (*Server, error) {
	if opts.OAuth && opts.TLS == nil {
		return nil, errors.New("azurite: OAuth needs TLS")
	}
	args := append(bin[1:], "--disableTelemetry", "--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(port))
	if opts.HostStorage {
		args = append(args, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(BlobPort),
			"--queueHost", "127.0.0.1", "--queuePort", strconv.Itoa(QueuePort))
	}
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
	cmd := exec.Command(bin[0], args...)
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
		return nil, fmt.Errorf("azurite: starting %s: %w", strings.Join(bin, " "), err)
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
		if s.persist {
			interrupt(s.cmd.Process)
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
			}
		}
		s.stopErr = kill(s.cmd.Process)
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
	if _, err := findTool(Tool); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: CI must run the Table Storage tests", err)
		}
		t.Skipf("skipping: %s not found (run npm ci in the repository root to install Azurite)", Tool)
	}
}

// findTool finds the azurite package that npm ci installs in node_modules, in
// the working directory or its parents up to the module root (the directory
// holding go.mod), and answers node with the script of bin (one of the
// package's bin entries): node itself, unlike npm's shims, stops when Stop
// stops it on every OS. PATH is the fallback for a global install.
func findTool(bin string) ([]string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		pkg := filepath.Join(dir, "node_modules", "azurite")
		if b, err := os.ReadFile(filepath.Join(pkg, "package.json")); err == nil {
			var meta struct {
				Bin map[string]string `json:"bin"`
			}
			node, nodeErr := exec.LookPath("node")
			if json.Unmarshal(b, &meta) == nil && meta.Bin[bin] != "" && nodeErr == nil {
				return []string{node, filepath.Join(pkg, filepath.FromSlash(meta.Bin[bin]))}, nil
			}
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
	if p, err := exec.LookPath(bin); err == nil {
		return []string{p}, nil
	}
	return nil, ErrNotInstalled
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
