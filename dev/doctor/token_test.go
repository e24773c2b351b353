package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
)

// doctor -token explains a bootstrap token with handler/token's rules and
// calls no one: the az log stays empty.
func TestExplainToken(t *testing.T) {
	e := setup(t)
	emu, err := entra.Start(e.graph.CA)
	must(t, err)
	defer emu.Close()
	clean := load(t, "clean")
	cid := clean.Settings["ADDIN_CLIENT_ID"]
	user := entra.User{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: "a11ce000-0000-4000-8000-000000000001", Name: "Alice", Username: "alice@contoso.example"}
	at := func(d time.Duration) time.Time { return time.Now().Add(d) }
	cases := []struct {
		name, fixture string
		tok           string
		stdin         bool
		answer        string
		shows         []string
	}{
		{"v2.0 from Office", "clean", emu.Issue(user, cid, entra.Token{}), false, "accepted",
			[]string{"ok  ver      2.0", "ok  azp      93d53678-613d-4013-afc1-62e9e444a0a5", "an Office client"}},
		{"amr policy, v2.0 token", "registration.token-version-mfa", emu.Issue(user, cid, entra.Token{}), false, "server_misconfigured",
			[]string{"ADDIN_MFA_POLICY=amr needs v1.0 tokens"}},
		{"amr policy, Outlook desktop's v1.0 token from stdin", "registration.token-version-mfa",
			emu.Issue(user, cid, entra.Token{Version: "1.0", Audience: clean.Settings["ADDIN_APP_ID_URI"], AMR: []string{"pwd", "rsa"}}), true, "mfa_missing",
			[]string{"ok  ver      1.0", "BAD amr/acrs amr pwd rsa, acrs none"}},
		{"a client the settings refuse", "settings.allowed-client-apps", emu.Issue(user, cid, entra.Token{}), false, "client_not_allowed",
			[]string{"BAD azp      93d53678-613d-4013-afc1-62e9e444a0a5"}},
		{"another audience", "clean", emu.Issue(user, cid, entra.Token{Audience: "api://elsewhere.example/" + cid}), false, "invalid_token",
			[]string{"BAD aud      api://elsewhere.example/"}},
		{"expired, and an unknown client", "settings.allowed-client-apps", emu.Issue(user, cid, entra.Token{IssuedAt: at(-3 * time.Hour)}), false, "token_expired",
			[]string{"BAD exp", "Before it expired: client_not_allowed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := c.tok
			set := func(o *options) { o.token, o.now = raw, time.Now() }
			if c.stdin {
				set = func(o *options) { o.token, o.now, o.stdin = "-", time.Now(), strings.NewReader("Bearer "+raw+"\n") }
			}
			text, code := e.doctor(t, load(t, c.fixture), false, set)
			if !strings.Contains(text, "validate answers: "+c.answer+"\n") {
				t.Fatalf("want %s:\n%s", c.answer, text)
			}
			for _, s := range c.shows {
				if !strings.Contains(text, s) {
					t.Errorf("output lacks %q:\n%s", s, text)
				}
			}
			if want := map[bool]int{true: 0, false: 1}[c.answer == "accepted"]; code != want {
				t.Errorf("exit %d, want %d", code, want)
			}
			js, _ := e.doctor(t, load(t, c.fixture), true, set)
			var x explanation
			if err := json.Unmarshal([]byte(js), &x); err != nil || x.Answer != c.answer {
				t.Errorf("-json: %v, answer %q", err, x.Answer)
			}
		})
	}
	if b, _ := os.ReadFile(e.log); len(b) != 0 {
		t.Errorf("doctor -token ran az: %s", b)
	}
}
