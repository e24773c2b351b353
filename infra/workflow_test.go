package infra

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// currentMajors is the newest major of each action the workflows use, read from each action's
// repository (action.yml's runs.using: node24, or a Docker action) when this was last checked.
// An action not listed fails the test, so a new one gets the same check.
var currentMajors = map[string]string{
	"actions/checkout":               "v7", // node24
	"actions/setup-go":               "v7", // node24
	"actions/setup-node":             "v7", // node24
	"actions/upload-artifact":        "v7", // node24
	"azure/login":                    "v3", // node24
	"Azure/functions-action":         "v1", // node24 since v1.5.3; supports Flex Consumption (sku)
	"Azure/static-web-apps-deploy":   "v1", // Docker
	"./.github/workflows/deploy.yml": "",   // this repository's reusable workflow
}

func TestActionsOnCurrentMajors(t *testing.T) {
	uses := regexp.MustCompile(`(?m)^\s*(?:- )?uses: *([^@\s]+)(?:@(\S+))?`)
	seen := 0
	for _, w := range workflows {
		for _, m := range uses.FindAllStringSubmatch(readFile(t, filepath.Join(root, w)), -1) {
			seen++
			want, known := currentMajors[m[1]]
			switch {
			case !known:
				t.Errorf("%s uses %s, which currentMajors does not list: check its newest major and add it", w, m[1])
			case m[2] != want:
				t.Errorf("%s uses %s@%s, want @%s (the current major)", w, m[1], m[2], want)
			}
		}
	}
	if seen < 8 {
		t.Fatalf("found %d uses: lines; the pattern no longer matches", seen)
	}
}

// Deploy runs after CI passed on the same commit: CI calls it as a job that needs both checks.
func TestDeployRunsOnlyAfterCI(t *testing.T) {
	deploy := readFile(t, filepath.Join(root, ".github/workflows/deploy.yml"))
	on := regexp.MustCompile(`(?ms)^on:\n(.*?)^\S`).FindStringSubmatch(deploy)
	if on == nil || strings.TrimSpace(on[1]) != "workflow_call:" {
		t.Errorf("deploy.yml must be triggered by workflow_call only (from ci.yml), got:\n%v", on)
	}
	ci := readFile(t, filepath.Join(root, ".github/workflows/ci.yml"))
	job := regexp.MustCompile(`(?ms)^  deploy:\n(.*?)(?:^  \S|\z)`).FindStringSubmatch(ci)
	if job == nil {
		t.Fatal("ci.yml has no deploy job")
	}
	for _, want := range []string{
		"needs: [test, bicep]", "uses: ./.github/workflows/deploy.yml", "id-token: write",
		"if: github.ref == 'refs/heads/main' && github.event_name != 'pull_request'",
	} {
		if !strings.Contains(job[1], want) {
			t.Errorf("ci.yml, job deploy: missing %q", want)
		}
	}
}

// Flex Consumption behind a linked backend: no config-zip (it polls /admin/host/status).
func TestCodeDeployUsesFunctionsAction(t *testing.T) {
	deploy := readFile(t, filepath.Join(root, ".github/workflows/deploy.yml"))
	if strings.Contains(deploy, "config-zip") {
		t.Error("deploy.yml uses `az functionapp deployment source config-zip`")
	}
	step := regexp.MustCompile(`(?m)^\s+uses: Azure/functions-action@v1\n\s+with:\n((?:\s{10}.*\n)+)`).FindStringSubmatch(deploy)
	if step == nil {
		t.Fatal("deploy.yml does not deploy with Azure/functions-action@v1")
	}
	for _, want := range []string{"package: build/app.zip", "sku: flexconsumption"} {
		if !strings.Contains(step[1], want) {
			t.Errorf("the functions-action step lacks %q", want)
		}
	}
	if strings.Contains(step[1], "publish-profile") {
		t.Error("the functions-action step uses a publish profile; sign-in is OpenID Connect")
	}
}

// stepEnv is where a deploy.yml step's run: script runs: fake commands first on PATH, every
// call of them logged, and RUNNER_TEMP and GITHUB_OUTPUT of its own.
type stepEnv struct {
	t   *testing.T
	dir string // working directory
	tmp string // RUNNER_TEMP
	out string // GITHUB_OUTPUT
	bin string
}

func newStepEnv(t *testing.T) *stepEnv {
	requireTools(t, "bash", "jq")
	e := &stepEnv{t: t, dir: t.TempDir(), tmp: t.TempDir(), bin: t.TempDir()}
	e.out = filepath.Join(e.tmp, "github_output")
	writeFile(t, e.out, "")
	e.fake("sleep", "exit 0")
	return e
}

func (e *stepEnv) fake(name, script string) {
	path := filepath.Join(e.bin, name)
	writeFile(e.t, path, "#!/usr/bin/env bash\nset -u\nlog=\"$RUNNER_TEMP/calls\"\necho \""+name+" $*\" >> \"$log\"\n"+script+"\n")
	if err := os.Chmod(path, 0o755); err != nil {
		e.t.Fatal(err)
	}
}

func (e *stepEnv) run(id string, env ...string) (string, error) {
	return e.runIn(e.dir, id, env...)
}

// runIn runs the step in dir: the repository's root for a step that runs its tools.
func (e *stepEnv) runIn(dir, id string, env ...string) (string, error) {
	script := stepRun(e.t, readFile(e.t, filepath.Join(root, ".github/workflows/deploy.yml")), id)
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+e.bin+":"+os.Getenv("PATH"), "RUNNER_TEMP="+e.tmp, "GITHUB_OUTPUT="+e.out,
		"GITHUB_RUN_ID=42", "GITHUB_RUN_ATTEMPT=1", "RESOURCE_GROUP=rg-test", "ENVIRONMENT_NAME=prod")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *stepEnv) calls() []string {
	b, err := os.ReadFile(filepath.Join(e.tmp, "calls"))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func (e *stepEnv) output(name string) string {
	for _, l := range strings.Split(readFile(e.t, e.out), "\n") {
		if v, ok := strings.CutPrefix(l, name+"="); ok {
			return v
		}
	}
	return ""
}

// deploymentOutputs is what `az deployment group create --query properties.outputs` prints.
const deploymentOutputs = `{
  "backendMode": {"value": "MODE"}, "staticWebAppName": {"value": "swa-prod-x"},
  "staticWebAppDomain": {"value": "sea.azurestaticapps.net"}, "functionAppName": {"value": "func-prod-x"},
  "functionAppId": {"value": "/subscriptions/s/resourceGroups/rg-test/providers/Microsoft.Web/sites/func-prod-x"},
  "functionAppHostname": {"value": "func-prod-x.azurewebsites.net"}, "apiBaseUrl": {"value": "https://x/api"},
  "clientId": {"value": "0f0e0d0c-0b0a-0908-0706-050403020100"}, "appIdUri": {"value": "api://x/0f0e"},
  "paneConfig": {"value": {"apiBaseUrl": "/api"}},
  "requestedGraphPermissions": {"value": ["openid", "User.Read"]}, "grantedGraphPermissions": {"value": ["openid", "User.Read"]}
}`

// fakeDeployments makes `az deployment group create` fail as the scenario says on its first
// call(s) and succeed after, printing the outputs with the backendMode it was given.
func (e *stepEnv) fakeDeployments(firstError, failedOperation string, failures int) {
	writeFile(e.t, filepath.Join(e.tmp, "outputs.tmpl"), deploymentOutputs)
	e.fake("az", `case "$*" in
  "deployment group create "*)
    n=$(grep -c '^az deployment group create' "$log")
    if [ "$n" -le `+strconv.Itoa(failures)+` ]; then echo 'ERROR: `+firstError+`' >&2; exit 1; fi
    mode=$(printf '%s\n' "$@" | sed -n 's/^backendMode=//p')
    sed "s/MODE/$mode/" "$RUNNER_TEMP/outputs.tmpl" ;;
  "deployment operation group list --resource-group rg-test --name addinsso-"*) echo '`+failedOperation+`' ;;
  "deployment operation group list"*) echo '[]' ;;
  *) echo "unexpected az $*" >&2; exit 3 ;;
esac`)
}

func deployArgs(calls []string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, "az deployment group create") {
			mode := regexp.MustCompile(`backendMode=(\w+) keyVaultCreateMode=(\w+)`).FindStringSubmatch(c)
			if mode == nil {
				out = append(out, "?")
				continue
			}
			out = append(out, mode[1]+"/"+mode[2])
		}
	}
	return out
}

// The first deployment's known failures are handled by the workflow itself, each once.
func TestInfraStepFallsBack(t *testing.T) {
	for _, c := range []struct {
		name, backendMode, firstError, failedOp string
		failures                                int
		wantOK                                  bool
		wantRuns                                []string
	}{
		{"first try works", "", "", "", 0, true, []string{"linked/default"}},
		{"link refused: cors", "", "BadRequest: linking is not supported", "prod-backendlink", 1, true, []string{"linked/default", "cors/default"}},
		{"link refused, linked asked for", "linked", "BadRequest", "prod-backendlink", 1, false, []string{"linked/default"}},
		{"soft-deleted vault: recover", "", "ConflictError: Exist soft deleted vault with the same name.", "prod-keyvault", 1, true, []string{"linked/default", "linked/recover"}},
		{"other failure", "", "AuthorizationFailed", "prod-storage", 1, false, []string{"linked/default"}},
		{"keeps failing", "", "Exist soft deleted vault", "prod-backendlink", 5, false, []string{"linked/default", "linked/recover", "cors/recover"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newStepEnv(t)
			e.fakeDeployments(c.firstError, c.failedOp, c.failures)
			mode := c.backendMode
			if mode == "" {
				mode = "linked" // the params step's choice for a first deployment
			}
			out, err := e.run("infra", "BACKEND_MODE="+c.backendMode, "MODE="+mode)
			if (err == nil) != c.wantOK {
				t.Fatalf("err = %v, want success %v\n%s", err, c.wantOK, out)
			}
			if got := deployArgs(e.calls()); !slices.Equal(got, c.wantRuns) {
				t.Errorf("deployments %v, want %v\n%s", got, c.wantRuns, out)
			}
			if c.wantOK {
				want := strings.Split(c.wantRuns[len(c.wantRuns)-1], "/")[0]
				if got := e.output("backendMode"); got != want {
					t.Errorf("output backendMode = %q, want %q", got, want)
				}
				if e.output("paneConfig") != `{"apiBaseUrl":"/api"}` {
					t.Errorf("output paneConfig = %q", e.output("paneConfig"))
				}
			}
		})
	}
}

// The Key Vault reference is awaited: the role was just granted.
func TestKeyVaultReferenceIsAwaited(t *testing.T) {
	for _, c := range []struct {
		name     string
		resolves int // the GET that first answers Resolved; 0: never
		wantOK   bool
	}{
		{"resolves on the third look", 3, true},
		{"never resolves", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newStepEnv(t)
			e.fake("az", `case "$*" in
  "rest --method post --url https://management.azure.com/site/config/configreferences/appsettings/refresh"*) ;;
  "rest --method get --url https://management.azure.com/site/config/configreferences/appsettings/TOKEN_CACHE_ENCRYPTION_KEY"*)
    n=$(grep -c '^az rest --method get' "$log")
    if [ `+strconv.Itoa(c.resolves)+` -gt 0 ] && [ "$n" -ge `+strconv.Itoa(c.resolves)+` ]; then echo Resolved; else echo AccessToKeyVaultDenied; fi ;;
  *) echo "unexpected az $*" >&2; exit 3 ;;
esac`)
			out, err := e.run("keyvault", "FUNCTION_APP_ID=/site")
			if (err == nil) != c.wantOK {
				t.Fatalf("err = %v, want success %v\n%s", err, c.wantOK, out)
			}
			refreshes := 0
			for _, call := range e.calls() {
				if strings.Contains(call, "/refresh") {
					refreshes++
				}
			}
			if c.wantOK && refreshes != c.resolves {
				t.Errorf("%d refreshes before the reference resolved, want %d", refreshes, c.resolves)
			}
		})
	}
}

// The smoke check goes through the Static Web App and wants the handler's own answer.
func TestSmokeCheckGoesThroughTheStaticWebApp(t *testing.T) {
	const swa, funcAPI = "sea.azurestaticapps.net", "https://func-prod-x.azurewebsites.net/api"
	problem := func(code string) string { return `{"type":"about:blank","status":401,"code":"` + code + `"}` }
	for _, c := range []struct {
		name, mode, status, ctype, body, acao string
		wantOK                                bool
		wantURL                               string
	}{
		{"linked: the handler answers", "linked", "401", "application/problem+json", problem("missing_token"), "", true, "https://" + swa + "/api/validate"},
		{"linked: a platform 401", "linked", "401", "text/html", "<html>Unauthorized</html>", "", false, "https://" + swa + "/api/validate"},
		{"linked: another problem", "linked", "401", "application/problem+json", problem("invalid_token"), "", false, "https://" + swa + "/api/validate"},
		{"linked: 404", "linked", "404", "text/html", "", "", false, "https://" + swa + "/api/validate"},
		{"cors: allowed origin", "cors", "401", "application/problem+json", problem("missing_token"), "https://" + swa, true, funcAPI + "/validate"},
		{"cors: no CORS", "cors", "401", "application/problem+json", problem("missing_token"), "", false, funcAPI + "/validate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newStepEnv(t)
			e.fake("curl", `body="" headers="" url=""
while [ $# -gt 0 ]; do
  case "$1" in -o) body="$2"; shift 2 ;; -D) headers="$2"; shift 2 ;; -w|-H) shift 2 ;; -*) shift ;; *) url="$1"; shift ;; esac
done
printf '%s\n' "$url" >> "$RUNNER_TEMP/urls"
printf 'HTTP/2 `+c.status+`\r\ncontent-type: `+c.ctype+`\r\n' > "$headers"
[ -z '`+c.acao+`' ] || printf 'access-control-allow-origin: `+c.acao+`\r\n' >> "$headers"
printf '%s' '`+c.body+`' > "$body"
printf '`+c.status+`'`)
			out, err := e.run("smoke", "MODE="+c.mode, "SWA_DOMAIN="+swa, "API_BASE_URL="+map[string]string{"linked": "https://" + swa + "/api", "cors": funcAPI}[c.mode])
			if (err == nil) != c.wantOK {
				t.Fatalf("err = %v, want success %v\n%s", err, c.wantOK, out)
			}
			urls := strings.Fields(readFile(t, filepath.Join(e.tmp, "urls")))
			if len(urls) == 0 || urls[0] != c.wantURL || len(slices.Compact(slices.Clone(urls))) != 1 {
				t.Errorf("checked %v, want %s", slices.Compact(urls), c.wantURL)
			}
		})
	}
	deploy := readFile(t, filepath.Join(root, ".github/workflows/deploy.yml"))
	if !strings.Contains(deploy, "SWA_DOMAIN: ${{ steps.infra.outputs.staticWebAppDomain }}") {
		t.Error("the smoke check's SWA_DOMAIN is not the Static Web App's host name")
	}
}

// Re-applying the Static Web App after a token upload keeps its provider; a backend link once
// refused is not tried again.
func TestPrepareStep(t *testing.T) {
	requireTools(t, "openssl")
	for _, c := range []struct{ variable, lastMode, want string }{
		{"", "", "linked"}, // first deployment
		{"", "cors", "cors"},
		{"", "linked", "linked"},
		{"linked", "cors", "linked"},
		{"cors", "", "cors"},
	} {
		e := newStepEnv(t)
		e.fake("az", `case "$*" in
  "keyvault list"*) echo "" ;;
  "staticwebapp list"*) echo GitHub ;;
  "deployment group list --resource-group rg-test "*) echo '`+c.lastMode+`' ;;
  *) echo "unexpected az $*" >&2; exit 3 ;;
esac`)
		if out, err := e.run("params", "BACKEND_MODE="+c.variable); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got := e.output("backendMode"); got != c.want {
			t.Errorf("AZURE_BACKEND_MODE %q, last deployment %q: backendMode %q, want %q", c.variable, c.lastMode, got, c.want)
		}
	}
	e := newStepEnv(t)
	e.fake("az", `case "$*" in
  "keyvault list"*) echo "" ;;
  "staticwebapp list"*) echo GitHub ;;
  "deployment group list"*) echo "" ;;
  *) echo "unexpected az $*" >&2; exit 3 ;;
esac`)
	if out, err := e.run("params"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := readFile(t, filepath.Join(e.tmp, "run.parameters.json"))
	for _, want := range []string{`"staticWebAppProvider": {`, `"value": "GitHub"`, `"tokenCacheEncryptionKey": {`} {
		if !strings.Contains(got, want) {
			t.Errorf("run.parameters.json lacks %s:\n%s", want, got)
		}
	}
	swa := readFile(t, filepath.Join(root, "infra/modules/staticwebapp.bicep"))
	if !strings.Contains(swa, "provider: empty(provider) ? null : provider") {
		t.Error("staticwebapp.bicep does not send the provider back")
	}
}
