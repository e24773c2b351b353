package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/problem"
)

// Explain answers as Verify does for every rule it applies, and calls no one:
// its Verifier's authority is a closed port, so a fetch would fail the check.
func TestExplain(t *testing.T) {
	amr := baseConfig()
	amr.MFA = config.MFAPolicy{Mode: config.MFAAMR}
	good := issue(alice, entra.Token{})
	cases := []struct {
		name string
		cfg  Config
		tok  string
		want problem.Code // "" when accepted
	}{
		{"good", baseConfig(), good, ""},
		{"other client", baseConfig(), issue(alice, entra.Token{ClientApp: otherApp}), problem.ClientNotAllowed},
		{"other audience", baseConfig(), issue(alice, entra.Token{Audience: "api://elsewhere/x"}), problem.InvalidToken},
		{"amr with v2.0", amr, good, problem.ServerMisconfigured},
		{"amr without mfa", amr, issue(alice, entra.Token{Version: "1.0"}), problem.MFAMissing},
		{"expired", baseConfig(), issue(alice, entra.Token{IssuedAt: time.Now().Add(-3 * time.Hour)}), problem.TokenExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			offline := c.cfg
			offline.AuthorityHost = "https://127.0.0.1:1"
			_, err := New(offline, baseOptions()).Explain(c.tok, time.Now())
			if got := code(err); got != c.want {
				t.Fatalf("Explain: %v, want %q", err, c.want)
			}
			_, err = New(c.cfg, baseOptions()).Verify(context.Background(), c.tok)
			if got := code(err); got != c.want {
				t.Errorf("Verify answers %v where Explain answers %q", err, c.want)
			}
		})
	}
	// What Explain does not verify: the signature.
	forged := good[:len(good)-4] + "AAAA"
	if _, err := New(baseConfig(), baseOptions()).Explain(forged, time.Now()); err != nil {
		t.Errorf("Explain of a forged signature: %v; it cannot tell, and must not pretend to", err)
	}
}

func code(err error) problem.Code {
	var p *problem.Error
	if errors.As(err, &p) {
		return p.Code
	}
	if err != nil {
		return "not a problem: " + problem.Code(err.Error())
	}
	return ""
}
