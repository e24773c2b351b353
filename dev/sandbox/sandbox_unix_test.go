//go:build unix

package main

import (
	"bufio"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/capture"
)

// TestCommandStopsChildren runs the sandbox command as a developer does and
// interrupts it as Ctrl-C does: every process it started must be gone.
func TestCommandStopsChildren(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the sandbox")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to find the sandbox's children")
	}
	root := moduleRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "sandbox")
	build := exec.Command("go", "build", "-o", bin, "./dev/sandbox")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "-port", "0")
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's foreground group, as Ctrl-C reaches it
	stdout, _ := cmd.StdoutPipe()
	var stderr capture.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	opened := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "Open "); ok {
				opened <- strings.TrimSpace(u)
			}
		}
	}()
	select {
	case u := <-opened:
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", u, err, resp)
		}
		resp.Body.Close()
	case <-time.After(3 * time.Minute):
		t.Fatalf("the sandbox printed no URL:\n%s", stderr.String())
	}

	children := descendants(cmd.Process.Pid)
	if len(children) == 0 {
		t.Fatalf("found no child process of the sandbox (the handler, Azurite)")
	}
	for _, pid := range children {
		t.Logf("child %d: %s", pid, cmdline(pid))
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the sandbox exited with %v after Ctrl-C:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the sandbox did not stop within 30 s of Ctrl-C:\n%s", stderr.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range children {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("process %d (%s) outlived the sandbox", pid, cmdline(pid))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
