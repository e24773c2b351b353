package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/capture"
)

// TestLocalHTTPSInChromium runs the command as a developer does, in its
// emulator mode over HTTPS (-https: the handler built for this machine and
// started as the Functions host would, Azurite, the emulators), and drives
// the pane in Chromium from opening it to Graph's /me. Chromium trusts the
// pane's certificate by its key's pin only.
func TestLocalHTTPSInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser test in -short mode")
	}
	root := moduleRoot(t)
	node := nodePath(t)
	need(t, "Chromium at "+chromiumPath(), "sudo apt-get install chromium; never a downloaded browser", exists(chromiumPath()))
	need(t, "node_modules (playwright-core, azurite)", "run npm ci in the repository root", exists(filepath.Join(root, "node_modules", "playwright-core")) && exists(filepath.Join(root, "node_modules", "azurite")))

	start := time.Now()
	bin := filepath.Join(t.TempDir(), "sandbox")
	build := exec.Command("go", "build", "-o", bin, "./dev/sandbox")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-https", "-port", "0")
	cmd.Dir = root
	stdout, _ := cmd.StdoutPipe()
	var logs capture.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	}()
	opened := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "Open "); ok {
				opened <- strings.TrimSpace(u)
			}
		}
	}()
	var pane string
	select {
	case pane = <-opened:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the command printed no URL:\n%s", logs.String())
	}
	ready := time.Since(start)
	u, err := url.Parse(pane)
	if err != nil || u.Scheme != "https" || !strings.HasPrefix(u.Host, "localhost:") {
		t.Fatalf("printed %q, want https://localhost:<port>/...", pane)
	}

	// The server's key, pinned for Chromium; and no plain http on the port.
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Errorf("the pane's certificate: %v", err)
	}
	pin := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	if resp, err := http.Get("http://" + u.Host + "/taskpane.html"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the pane is served over plain http too")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	browser := exec.CommandContext(ctx, node, filepath.Join("staticwebapp", "test", "local.mjs"), pane)
	browser.Dir = root
	browser.Env = append(os.Environ(), "CHROMIUM="+chromiumPath(), "SPKI="+base64.StdEncoding.EncodeToString(pin[:]))
	out, err := browser.CombinedOutput()
	if err != nil {
		t.Fatalf("browser: %v\n%s\n--- logs ---\n%s", err, out, lastLines(logs.String(), 40))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var summary struct {
		Passed []string `json:"passed"`
		MeMs   int64    `json:"meMs"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &summary); err != nil || len(summary.Passed) != 3 {
		t.Fatalf("browser summary %q: %v", lines[len(lines)-1], err)
	}
	t.Logf("command started to URL printed: %s; pane opened to /me shown: %d ms; passed: %v", ready.Round(time.Millisecond), summary.MeMs, summary.Passed)
}
