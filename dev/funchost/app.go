package funchost

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Settings is the file Core Tools reads the app settings from, in the script
// root. It holds secrets, so BuildApp never deletes it and git ignores it.
const Settings = "local.settings.json"

// Exe is the handler's file name for goos: Windows runs only .exe files.
func Exe(goos string) string {
	if goos == "windows" {
		return "handler.exe"
	}
	return "handler"
}

// BuildApp assembles the Functions app the host runs from its script root, in
// dir: host.json naming the handler built for goos/goarch, the handler (no
// cgo) and one folder per function with its function.json. The Functions host
// only finds function folders directly under the script root. What dir held
// before goes, except local.settings.json. root is the module root.
func BuildApp(root, dir, goos, goarch string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range old {
		if e.Name() != Settings {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}

	exe := Exe(goos)
	out, err := filepath.Abs(filepath.Join(dir, exe))
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./handler for %s/%s: %v\n%s", goos, goarch, err, b)
	}

	// host.json names the executable; the repository's names the Linux one.
	b, err := os.ReadFile(filepath.Join(root, "host.json"))
	if err != nil {
		return err
	}
	var host map[string]any
	if err := json.Unmarshal(b, &host); err != nil {
		return fmt.Errorf("host.json: %w", err)
	}
	desc, ok := host["customHandler"].(map[string]any)["description"].(map[string]any)
	if !ok {
		return fmt.Errorf("host.json: no customHandler.description")
	}
	if desc["defaultExecutablePath"] != exe {
		desc["defaultExecutablePath"] = exe
		if b, err = json.MarshalIndent(host, "", "  "); err != nil {
			return err
		}
		b = append(b, '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "host.json"), b, 0o644); err != nil {
		return err
	}

	funcs, err := filepath.Glob(filepath.Join(root, "functions", "*", "function.json"))
	if err != nil || len(funcs) == 0 {
		return fmt.Errorf("no functions/*/function.json under %s", root)
	}
	for _, f := range funcs {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sub := filepath.Join(dir, filepath.Base(filepath.Dir(f)))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sub, "function.json"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
