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

// mfaShown reads amr where the token has it (v1.0), else the configured
// authentication context in acrs; v2.0 tokens without either cannot tell.
func mfaShown(c *claims, policy config.MFAPolicy) (MFA, string) {
	switch {
	case c.AMR != nil && slices.Contains(c.AMR, "mfa"):
		return MFAYes, "amr lists mfa"
	case c.AMR != nil:
		return MFANo, "amr lacks mfa: the token was minted without multi-factor authentication (typical of Outlook desktop's Primary Refresh Token)"
	case policy.Mode == config.MFAACRS && slices.Contains(c.ACRS, policy.Context):
		return MFAYes, "acrs lists authentication context " + policy.Context
	case c.Ver == "2.0":
		return MFAUnknown, "v2.0 tokens carry no amr; require an authentication context with ADDIN_MFA_POLICY=acrs:<id> to see step-up"
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
