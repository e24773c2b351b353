package token

import (
	"slices"
	"strings"
	"time"

	"github.com/addinsso/addinsso/handler/config"
)

// Identity is who a verified token speaks for. It holds no token, so it can be
// logged and returned as it is.
type Identity struct {
	TenantID     string    `json:"tenantId"`
	ObjectID     string    `json:"objectId"`
	Name         string    `json:"name,omitempty"`
	Username     string    `json:"username,omitempty"`
	Scopes       []string  `json:"scopes"`
	TokenVersion string    `json:"tokenVersion"`
	ClientAppID  string    `json:"clientAppId"`
	MFA          MFA       `json:"mfa"`
	MFAEvidence  string    `json:"mfaEvidence"`
	AMR          []string  `json:"amr"`  // null when the token has no amr (v2.0 tokens never do)
	ACRS         []string  `json:"acrs"` // null when the token has no acrs
	ExpiresAt    time.Time `json:"expiresAt"`
}

// MFA says whether the token shows multi-factor authentication.
type MFA string

const (
	MFAYes     MFA = "true"
	MFANo      MFA = "false"
	MFAUnknown MFA = "unknown"
)

func (c *claims) identity(policy config.MFAPolicy) *Identity {
	client, _ := c.clientApp()
	id := &Identity{
		TenantID:     c.Tid,
		ObjectID:     c.Oid,
		Name:         c.Name,
		Username:     firstNonEmpty(c.Preferred, c.UPN, c.UniqueName),
		Scopes:       strings.Fields(c.Scp),
		TokenVersion: c.Ver,
		ClientAppID:  client,
		AMR:          c.AMR,
		ACRS:         c.ACRS,
		ExpiresAt:    c.Exp.UTC(),
	}
	id.MFA, id.MFAEvidence = mfaShown(c, policy)
	return id
}

// mfaShown reads amr where the token has it (v1.0 only), else the
// configured authentication context in acrs (both versions); a v2.0 token
// without the context cannot tell.
func mfaShown(c *claims, policy config.MFAPolicy) (MFA, string) {
	switch {
	case c.AMR != nil && showsMFA(c.AMR):
		return MFAYes, "v1.0 token: amr lists mfa (or ngcmfa)"
	case c.AMR != nil:
		return MFANo, "v1.0 token: amr lacks mfa: the sign-in behind it had no multi-factor authentication (typical of Outlook desktop's Primary Refresh Token); Conditional Access requiring MFA for the add-in makes Entra ask for it"
	case policy.Mode == config.MFAACRS && slices.Contains(c.ACRS, policy.Context):
		return MFAYes, "acrs lists authentication context " + policy.Context + " (its Conditional Access policy was satisfied)"
	case policy.Mode == config.MFAACRS:
		return MFANo, "acrs lacks authentication context " + policy.Context + ": its Conditional Access policy was not satisfied for this token"
	case c.Ver == "2.0":
		return MFAUnknown, "v2.0 tokens carry no amr: only an authentication context (ADDIN_MFA_POLICY=acrs:<id>) can show a step-up"
	default:
		return MFAUnknown, "the token has no amr claim"
	}
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
