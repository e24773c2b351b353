package infra

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// section returns the text of a `## title` section of a Markdown file.
func section(t *testing.T, doc, title string) string {
	t.Helper()
	start := strings.Index(doc, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("no section %q", title)
	}
	rest := doc[start+len("\n## "+title+"\n"):]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

func TestDeployDocOrderAndSubjects(t *testing.T) {
	doc := readFile(t, filepath.Join(root, "docs/deploy.md"))
	// From zero, in the order a person does it.
	last := -1
	for n := 1; n <= 8; n++ {
		i := strings.Index(doc, "\n## "+string(rune('0'+n))+". ")
		if i < last {
			t.Errorf("docs/deploy.md: step %d missing or out of order", n)
		}
		last = i
	}
	// Both subject formats; the immutable one built from the IDs the API returns.
	if !strings.Contains(doc, "repo:OWNER/REPO:environment:production") || !strings.Contains(doc, `SUBJECT="repo:$REPO:environment:production"`) {
		t.Error("docs/deploy.md: the classic subject repo:OWNER/REPO:environment:production is missing")
	}
	line := regexp.MustCompile(`(?m)^SUBJECT="repo:\$\{REPO.*$`).FindString(doc)
	if line == "" {
		t.Fatal("docs/deploy.md: no SUBJECT=... line for the immutable subject")
	}
	requireTools(t, "bash")
	out, err := exec.Command("bash", "-c", "REPO=octo/app OWNER_ID=123 REPO_ID=456; "+line+`; printf %s "$SUBJECT"`).Output()
	if err != nil || string(out) != "repo:octo@123/app@456:environment:production" {
		t.Errorf("the immutable subject line gives %q (%v), want repo:octo@123/app@456:environment:production", out, err)
	}
	if !strings.Contains(doc, "AADSTS700213") {
		t.Error("docs/deploy.md does not say how to read the subject from AADSTS700213")
	}
}

// Each failure of the first deployment has a row: where, the message, the fix.
func TestDeployDocWhatCanGoWrong(t *testing.T) {
	table := section(t, readFile(t, filepath.Join(root, "docs/deploy.md")), "What can go wrong")
	rows := map[string]bool{}
	for _, l := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		if strings.HasPrefix(l, "|") && len(cells) == 3 && !slices.Contains(cells, "") {
			rows[l] = true
		}
	}
	for _, failure := range []string{
		"delegatedPermissionIds", "AADSTS700213", "default file", "/admin/host/status",
		"Exist soft deleted vault", "Cannot change the Provider", "backendlink", "Key Vault reference",
		"graph_path_forbidden", "missing_token", "uniqueName", "AADSTS65001",
	} {
		found := false
		for r := range rows {
			found = found || strings.Contains(r, failure)
		}
		if !found {
			t.Errorf("docs/deploy.md, What can go wrong: no row (where | message | fix) for %s", failure)
		}
	}
}

func TestTeardownScript(t *testing.T) {
	for _, c := range []struct {
		name      string
		protected string
		wantPurge bool
	}{
		{"purgeable vault", "false", true},
		{"purge protection", "true", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newStepEnv(t)
			e.fake("az", `case "$*" in
  "deployment group list --resource-group rg-test "*) echo '{"keyVaultName": {"value": "kv-x"}, "clientId": {"value": "cid"}}' ;;
  "ad app show --id cid "*) echo app-obj ;;
  "ad sp show --id cid "*) echo sp-obj ;;
  "deployment group create --resource-group rg-test "*"--mode Complete "*) echo Succeeded ;;
  "keyvault show-deleted --name kv-x --query properties.purgeProtectionEnabled "*) echo `+c.protected+` ;;
  "keyvault show-deleted --name kv-x --query properties.scheduledPurgeDate "*) echo 2027-03-01 ;;
  "keyvault purge --name kv-x") ;;
  "ad app delete --id app-obj") ;;
  "rest --method delete --url https://graph.microsoft.com/v1.0/directory/deletedItems/"*) ;;
  *) echo "unexpected az $*" >&2; exit 3 ;;
esac`)
			script, _ := filepath.Abs(filepath.Join(root, "infra/scripts/teardown.sh"))
			cmd := exec.Command("bash", script, "rg-test", "--yes")
			cmd.Env = append(os.Environ(), "PATH="+e.bin+":"+os.Getenv("PATH"), "RUNNER_TEMP="+e.tmp)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("teardown.sh: %v\n%s", err, out)
			}
			calls := strings.Join(e.calls(), "\n")
			for _, want := range []string{
				"--mode Complete", "az ad app delete --id app-obj",
				"deletedItems/app-obj", "deletedItems/sp-obj",
			} {
				if !strings.Contains(calls, want) {
					t.Errorf("teardown.sh did not run %q; it ran:\n%s", want, calls)
				}
			}
			if got := strings.Contains(calls, "az keyvault purge --name kv-x"); got != c.wantPurge {
				t.Errorf("purged the vault: %v, want %v", got, c.wantPurge)
			}
		})
	}
	doc := section(t, readFile(t, filepath.Join(root, "docs/deploy.md")), "Teardown")
	for _, want := range []string{"infra/scripts/teardown.sh", "deletedItems", "az keyvault purge"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deploy.md, Teardown: missing %s", want)
		}
	}
}
