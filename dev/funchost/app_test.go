package funchost

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const settings = `{"IsEncrypted": false, "Values": {"ADDIN_CLIENT_SECRET": "kept"}}`

// TestBuildAppCrossBuilds builds the app for the three platforms developers and
// Azure run it on: each handler is an executable of that platform, host.json
// names it (handler.exe on Windows), and a local.settings.json already there stays.
func TestBuildAppCrossBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: three builds of the handler")
	}
	root := moduleRoot(t)
	for _, c := range []struct {
		goos, goarch, exe string
		check             func(f string) error
	}{
		{"windows", "amd64", "handler.exe", func(f string) error {
			b, err := pe.Open(f)
			if err == nil && b.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
				err = fmt.Errorf("machine %#x, want amd64", b.Machine)
			}
			return err
		}},
		{"darwin", "arm64", "handler", func(f string) error {
			b, err := macho.Open(f)
			if err == nil && (b.Cpu != macho.CpuArm64 || b.Type != macho.TypeExec) {
				err = fmt.Errorf("cpu %v type %v, want an arm64 executable", b.Cpu, b.Type)
			}
			return err
		}},
		{"linux", "amd64", "handler", func(f string) error {
			b, err := elf.Open(f)
			if err == nil && (b.Machine != elf.EM_X86_64 || b.Type != elf.ET_EXEC) {
				err = fmt.Errorf("machine %v type %v, want a static amd64 executable", b.Machine, b.Type)
			}
			return err
		}},
	} {
		t.Run(c.goos+"/"+c.goarch, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, Settings), settings)
			writeFile(t, filepath.Join(dir, "stale", "function.json"), "{}") // a function since removed
			if err := BuildApp(root, dir, c.goos, c.goarch); err != nil {
				t.Fatal(err)
			}
			if err := c.check(filepath.Join(dir, c.exe)); err != nil {
				t.Errorf("%s: %v", c.exe, err)
			}
			if got := hostExe(t, dir); got != c.exe {
				t.Errorf("host.json names %q, want %q", got, c.exe)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, Settings)); string(b) != settings {
				t.Errorf("%s was not kept: %q", Settings, b)
			}
			if _, err := os.Stat(filepath.Join(dir, "stale")); err == nil {
				t.Error("a folder of the previous build survived")
			}
			for _, name := range []string{"validate", "exchange", "graph-proxy", "signout", "sweep"} {
				if _, err := os.Stat(filepath.Join(dir, name, "function.json")); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestMakeAppKeepsLocalSettings runs `make app` as a developer does, with
// local.settings.json in the app directory: it must still be there, unchanged.
func TestMakeAppKeepsLocalSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds the handler")
	}
	if _, err := exec.LookPath("make"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("make is missing: CI must run this test")
		}
		t.Skip("skipping: make is not installed (Windows: go run ./dev/buildapp is what make app runs)")
	}
	root := moduleRoot(t)
	app := filepath.Join(t.TempDir(), "app")
	writeFile(t, filepath.Join(app, Settings), settings)
	cmd := exec.Command("make", "-C", root, "app", "APP="+app)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make app: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(app, Settings)); string(b) != settings {
		t.Fatalf("make app did not keep %s: %q", Settings, b)
	}
	if got := hostExe(t, app); got != "handler" {
		t.Errorf("make app's host.json names %q, want handler (linux/amd64 by default)", got)
	}
}

func hostExe(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
		ExtensionBundle map[string]any `json:"extensionBundle"`
	}
	if err := json.Unmarshal(b, &host); err != nil || host.ExtensionBundle == nil {
		t.Fatalf("host.json: %v\n%s", err, b)
	}
	return host.CustomHandler.Description.DefaultExecutablePath
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
