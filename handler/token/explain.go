package token

import "time"

// Explain applies to raw, at the time now, every rule of Verify that needs no
// network: shape and header, lifetime, version, audience, user token, tenant,
// client application, scope and MFA policy, in Verify's order, and says which
// one the token breaks. It does not check the issuer or the signature (those
// need Entra's metadata), so it only explains a token (dev/doctor -token):
// never accept a token because Explain found nothing wrong.
func (v *Verifier) Explain(raw string, now time.Time) (*Identity, error) {
	_, c, err := parse(raw)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(c, now); err != nil {
		return nil, err
	}
	if err := v.checkPolicy(c); err != nil {
		return nil, err
	}
	return c.identity(v.cfg.MFA), nil
}
