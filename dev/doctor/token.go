package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
)

// explanation is doctor --token's answer: each claim that decides, and what
// /api/validate will answer, by handler/token's own rules (Verifier.Explain).
type explanation struct {
	Lines  []line `json:"lines"`
	Answer string `json:"answer"` // a problem code, or "accepted"
	Detail string `json:"detail"`
}

type line struct {
	Claim string `json:"claim"`
	Value string `json:"value"`
	OK    bool   `json:"ok"`
	Note  string `json:"note,omitempty"`
}

// shown are the claims the explanation quotes; the rules are Explain's.
type shown struct {
	Iss   string   `json:"iss"`
	Aud   any      `json:"aud"`
	Ver   string   `json:"ver"`
	Tid   string   `json:"tid"`
	Azp   string   `json:"azp"`
	AppID string   `json:"appid"`
	Scp   string   `json:"scp"`
	AMR   []string `json:"amr"`
	ACRS  []string `json:"acrs"`
	Exp   int64    `json:"exp"`
}

func explainToken(cfg *config.Config, raw string, now time.Time) (*explanation, error) {
	raw = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(raw), "Bearer "))
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT (header.payload.signature)")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c shown
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil {
		return nil, fmt.Errorf("the payload is not base64url JSON: %w", err)
	}
	v := token.New(token.Config{
		ClientID: cfg.ClientID, AppIDURI: cfg.AppIDURI, TenantID: cfg.TenantID, AllowedTenants: cfg.AllowedTenants,
		RequiredScope: cfg.RequiredScope, AllowedClientApps: cfg.AllowedClientApps, MFA: cfg.MFA, AuthorityHost: cfg.AuthorityHost,
	}, token.Options{})
	e := &explanation{}
	add := func(claim, value string, ok bool, note string) {
		e.Lines = append(e.Lines, line{claim, value, ok, note})
	}

	exp := time.Unix(c.Exp, 0)
	left := exp.Sub(now).Round(time.Second)
	add("exp", exp.UTC().Format(time.RFC3339), left > -token.ClockSkew, fmt.Sprintf("%s left", left))
	add("ver", c.Ver, c.Ver == "1.0" || c.Ver == "2.0", "set by the registration's requestedAccessTokenVersion")
	aud := fmt.Sprint(c.Aud)
	wantAud := cfg.ClientID
	if c.Ver == "1.0" && cfg.AppIDURI != "" {
		wantAud += " or " + cfg.AppIDURI
	}
	add("aud", aud, aud == cfg.ClientID || (c.Ver == "1.0" && cfg.AppIDURI != "" && aud == cfg.AppIDURI), "expected "+wantAud)
	wantIss := cfg.AuthorityHost + "/" + c.Tid + "/v2.0"
	if c.Ver == "1.0" {
		wantIss = "https://sts.windows.net/" + c.Tid + "/" // Entra's v1.0 discovery document, public cloud
	}
	add("iss", c.Iss, c.Iss == wantIss, "expected "+wantIss+" (the signature is not checked offline)")
	client, claim := c.Azp, "azp"
	if c.Ver == "1.0" {
		client, claim = c.AppID, "appid"
	}
	add(claim, client, slices.Contains(cfg.AllowedClientApps, strings.ToLower(client)), clientName(cfg, client)+"; must be in ADDIN_ALLOWED_CLIENT_APPS")
	add("scp", c.Scp, slices.Contains(strings.Fields(c.Scp), cfg.RequiredScope), "must include "+cfg.RequiredScope)

	// Explain's answer now, and, for an expired token, what it would have been
	// before it expired: the rest of the rules still explain a failure.
	id, err := v.Explain(raw, now)
	failure, _ := errors.AsType[*problem.Error](err)
	switch {
	case failure != nil && failure.Code == problem.TokenExpired:
		e.Answer, e.Detail = string(failure.Code), failure.Detail
		id, err = v.Explain(raw, exp.Add(-time.Second))
		if failure, _ = errors.AsType[*problem.Error](err); err != nil {
			e.Detail += " Before it expired: " + describe(failure, err)
		}
	case err != nil:
		e.Answer, e.Detail = answer(failure), describe(failure, err)
	default:
		e.Answer, e.Detail = "accepted", "validate accepts it, if Entra signed it (not checked offline)"
	}
	mfaNote := "ADDIN_MFA_POLICY=" + policyString(cfg.MFA)
	mfaFailed := failure != nil && slices.Contains([]problem.Code{problem.MFAMissing, problem.MFARequired, problem.ServerMisconfigured}, failure.Code)
	switch {
	case id != nil:
		mfaNote += ": mfa " + string(id.MFA) + ", " + id.MFAEvidence
	case !mfaFailed:
		mfaNote += ": not reached, validate stops at the first failure"
	}
	add("amr/acrs", fmt.Sprintf("amr %v, acrs %v", orNone(c.AMR), orNone(c.ACRS)), !mfaFailed, mfaNote)
	return e, nil
}

func answer(p *problem.Error) string {
	if p == nil {
		return "refused"
	}
	return string(p.Code)
}

func describe(p *problem.Error, err error) string {
	if p == nil {
		return err.Error()
	}
	return string(p.Code) + ": " + p.Detail
}

func orNone(v []string) string {
	if v == nil {
		return "none"
	}
	return strings.Join(v, " ")
}

func policyString(p config.MFAPolicy) string {
	if p.Mode == config.MFAACRS {
		return "acrs:" + p.Context
	}
	return string(p.Mode)
}

// clientName says which client a token was issued to.
func clientName(cfg *config.Config, id string) string {
	switch id = strings.ToLower(id); {
	case id == cfg.ClientID:
		return "the add-in itself: Nested App Authentication or the dialog"
	case slices.Contains(config.OfficeClientApps, id):
		return "an Office client Microsoft documents for SSO"
	}
	return "another application"
}

func (e *explanation) writeText(w io.Writer) {
	for _, l := range e.Lines {
		mark := "ok "
		if !l.OK {
			mark = "BAD"
		}
		fmt.Fprintf(w, "%s %-8s %s", mark, l.Claim, l.Value)
		if l.Note != "" {
			fmt.Fprintf(w, "  (%s)", l.Note)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nvalidate answers: %s\n  %s\n", e.Answer, e.Detail)
}
