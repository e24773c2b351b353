package token

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// FuzzVerify feeds arbitrary strings to the verifier: it must never panic or
// answer with anything but a problem, and it must accept only tokens the
// emulator actually signed (a mutation can never produce a valid token).
func FuzzVerify(f *testing.F) {
	valid := map[string]bool{}
	for _, tok := range []string{
		issue(alice, entra.Token{}),
		issue(alice, entra.Token{Version: "1.0", Audience: appIDURI, AMR: []string{"pwd", "mfa"}}),
		issue(bob, entra.Token{ACRS: []string{"c1"}}),
	} {
		valid[tok] = true
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(b64(`{"alg":"none"}`) + "." + parts[1] + ".")
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add(b64(`{"alg":"RS256","kid":"x","jku":"https://evil"}`) + ".e30.c2ln")
	// The attacks of the strict checks, each signed by the emulator and refused.
	for _, tok := range []string{
		rawSigned("", `,"OID":"`+bob.ObjectID+`"`),
		rawSigned("", `,"\u006fid":"`+bob.ObjectID+`"`),
		rawSigned("", `,"ſcp":"access_as_user"`),
		rawSigned(`,"ALG":"none"`, ""),
		rawSigned(`,"kid":"other"`, ""),
		issue(alice, entra.Token{ClientApp: otherApp}),
		issue(alice, entra.Token{Version: "1.0", ClientApp: otherApp, Claims: map[string]any{"azp": entra.OfficeClientID}}),
		issue(alice, entra.Token{Lifetime: 29 * time.Hour}),
		issue(alice, entra.Token{Lifetime: 29 * time.Hour, Claims: map[string]any{"iat": nil, "nbf": nil}}),
		issue(entra.User{TenantID: entra.ConsumersTenantID, ObjectID: alice.ObjectID}, entra.Token{}),
		emu.SignWithTenantKey(entra.ConsumersTenantID, nil, claimsOf(issue(alice, entra.Token{}))),
		signed(map[string]any{"kid": "not-a-published-key"}, aged(10*time.Minute)),
	} {
		f.Add(tok)
	}
	v := New(baseConfig(), baseOptions())
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := v.Verify(context.Background(), raw)
		if err == nil {
			if !valid[raw] {
				t.Fatalf("accepted a token the emulator never signed: %q", raw)
			}
			if id == nil || id.ObjectID == "" {
				t.Fatal("accepted without an identity")
			}
			return
		}
		var p *problem.Error
		if !errors.As(err, &p) {
			t.Fatalf("error is not a problem: %v", err)
		}
		if strings.Contains(p.Detail, raw) && len(raw) > 40 {
			t.Fatal("the problem detail echoes the token")
		}
	})
}
