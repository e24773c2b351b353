// Package funchost drives the handler binary the way the Azure Functions host
// does (Core Tools cannot be installed here): it starts the executable with
// FUNCTIONS_CUSTOMHANDLER_PORT set, pings GET / until the handler answers, and
// sends forwarded HTTP requests to it. Tests and the local sandbox use it.
package funchost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/addinsso/addinsso/dev/capture"
)

// Build compiles the handler for this machine into dir and returns the binary's path.
func Build(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, Exe(runtime.GOOS))
	cmd := exec.Command("go", "build", "-o", bin, "./handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./handler: %v\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot is the directory holding go.mod, found upwards from the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Handler is a running handler process, or the Functions host running it.
type Handler struct {
	URL     string        // http://127.0.0.1:<port>
	Started time.Duration // from exec to the first 200 on GET /
	cmd     *exec.Cmd
	logs    *capture.Buffer
	done    chan struct{}
	err     error
}

// Start runs bin with env (added to a minimal environment, baseEnv, so nothing
// of the caller's leaks in) and waits until GET / answers 200.
// logs, if not nil, also receives the handler's output.
func Start(bin string, env map[string]string, logs io.Writer) (*Handler, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env = append(baseEnv(), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return run(cmd, fmt.Sprintf("http://127.0.0.1:%d", port), logs, 10*time.Second)
}

// StartHost runs the real Functions host, `func start` of Azure Functions
// Core Tools, in the app directory dir (its script root, where Core Tools
// reads local.settings.json) and waits until the host answers GET / on port:
// the first run downloads the extension bundle host.json names, hence the
// generous limit.
func StartHost(funcBin, dir string, port int, logs io.Writer) (*Handler, error) {
	cmd := exec.Command(funcBin, "start", "--port", strconv.Itoa(port))
	cmd.Dir = dir
	return run(cmd, fmt.Sprintf("http://localhost:%d", port), logs, 3*time.Minute)
}

// run starts cmd and waits until url answers GET / with 200.
func run(cmd *exec.Cmd, url string, logs io.Writer, limit time.Duration) (*Handler, error) {
	h := &Handler{URL: url, cmd: cmd, logs: &capture.Buffer{}, done: make(chan struct{})}
	var out io.Writer = h.logs
	if logs != nil {
		out = io.MultiWriter(h.logs, logs)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { h.err = cmd.Wait(); close(h.done) }()
	if err := h.waitReady(start, limit); err != nil {
		h.Stop()
		return nil, fmt.Errorf("%w\noutput:\n%s", err, h.Logs())
	}
	return h, nil
}

// waitReady pings GET / as the host does, every few milliseconds.
func (h *Handler) waitReady(start time.Time, limit time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	for time.Since(start) < limit {
		select {
		case <-h.done:
			return fmt.Errorf("%s exited before answering the ping: %v", filepath.Base(h.cmd.Path), h.err)
		default:
		}
		resp, err := client.Get(h.URL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				h.Started = time.Since(start)
				return nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer GET / within %s", filepath.Base(h.cmd.Path), limit)
}

// Alive reports whether the process is still running.
func (h *Handler) Alive() bool {
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

// Logs is everything the handler wrote so far.
func (h *Handler) Logs() string { return h.logs.String() }

// Stop sends SIGTERM, as the host does, and kills the process group after 5 s.
func (h *Handler) Stop() {
	if !h.Alive() {
		return
	}
	terminate(h.cmd.Process)
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		kill(h.cmd.Process)
		<-h.done
	}
}

// Run starts bin and waits for it to exit, for configuration errors: it returns
// the exit code and the output.
func Run(ctx context.Context, bin string, env map[string]string) (int, string, error) {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), string(out), nil
	}
	return 0, string(out), err
}

// baseEnv is PATH and HOME, and on Windows SYSTEMROOT, without which a Go
// program cannot open a socket there.
func baseEnv() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if v := os.Getenv("SYSTEMROOT"); v != "" {
		env = append(env, "SYSTEMROOT="+v)
	}
	return env
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
