package entra

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Entra knows how the user's session authenticated even when a token does not
// show it: v2.0 access tokens carry no amr. The emulator keeps that session
// inside the tokens it issues, in aio, sealed with its own key like its
// refresh tokens. The access token claims reference: aio is "An internal claim
// that's used to record data for token reuse. Should be ignored." Resources
// must not read it; only the emulator's token endpoint does, when the token
// comes back as an On-Behalf-Of assertion.
//
// Per user, the emulator also remembers what Entra itself would: the
// challenges it sent (the policy IDs of 50076's claims), the step-ups the user
// completed since signing in, and when an administrator revoked their sessions.

// session is how a user's sign-in authenticated.
type session struct {
	AMR  []string `json:"amr"`            // authentication methods
	ACRS []string `json:"acrs,omitempty"` // satisfied authentication contexts
}

// mfa: the access token claims reference lists ngcmfa as "Equivalent to `mfa`,
// used for provisioning of certain advanced credential types."
func (ss session) mfa() bool {
	return slices.Contains(ss.AMR, "mfa") || slices.Contains(ss.AMR, "ngcmfa")
}

func (ss *session) addMethod(m string) {
	if !slices.Contains(ss.AMR, m) {
		ss.AMR = append(slices.Clone(ss.AMR), m)
	}
}

func (ss *session) addContext(id string) {
	if !slices.Contains(ss.ACRS, id) {
		ss.ACRS = append(slices.Clone(ss.ACRS), id)
	}
}

// merge adds what other has that ss lacks.
func (ss *session) merge(other session) {
	for _, m := range other.AMR {
		ss.addMethod(m)
	}
	for _, c := range other.ACRS {
		ss.addContext(c)
	}
}

const aioPrefix = "E2."

// seal makes the aio claim: the session as MACed JSON, opaque to resources.
func (s *Server) seal(ss session) string {
	b, _ := json.Marshal(ss)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return aioPrefix + payload + "." + s.mac(payload)
}

// unseal reads an aio claim this emulator sealed.
func (s *Server) unseal(aio string) (session, bool) {
	var ss session
	payload, sig, ok := strings.Cut(strings.TrimPrefix(aio, aioPrefix), ".")
	if !ok || !strings.HasPrefix(aio, aioPrefix) || !hmac.Equal([]byte(sig), []byte(s.mac(payload))) || decodeJSON(payload, &ss) != nil {
		return session{}, false
	}
	return ss, true
}

func (s *Server) mac(payload string) string {
	m := hmac.New(sha256.New, s.obo.rtKey)
	m.Write([]byte("aio|" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// userState is what Entra remembers of a user between requests.
type userState struct {
	challenged []string // policy IDs of the MFA challenges sent to the user
	stepUp     session  // what the user completed since signing in
	revokedAt  int64    // unix seconds; tokens issued before are revoked (0: never)
}

func (s *Server) state(oid string) *userState {
	st := s.obo.states[oid]
	if st == nil {
		st = &userState{}
		s.obo.states[oid] = st
	}
	return st
}

// authContextID is the form of an authentication context ID. Graph's authContext
// resource: "Supported values are c1 through c99."; the Conditional Access
// tutorials: "The IDs range from c1 to c99." (The developer guide to
// Conditional Access authentication context still says "Values C1-C25 are
// available for use as Auth Context IDs in a tenant"; the lower-case form is
// the one tokens carry in acrs.)
var authContextID = regexp.MustCompile(`^c([1-9]|[1-9][0-9])$`)

// DefineAuthContext declares a Conditional Access authentication context in a
// tenant, with a policy that requires MFA: a claims request for it (acrs) makes
// the user complete MFA and puts it in the token's acrs. IDs are c1 to c99.
func (s *Server) DefineAuthContext(tenantID, id string) error {
	if !authContextID.MatchString(id) {
		return fmt.Errorf("entra: authentication context %q: IDs are c1 to c99", id)
	}
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	if s.obo.contexts[tenantID] == nil {
		s.obo.contexts[tenantID] = map[string]bool{}
	}
	s.obo.contexts[tenantID][id] = true
	return nil
}

// RevokeSessions revokes the user's sessions at at, as "Revoke sessions" in
// the portal does: tokens issued before at no longer redeem On-Behalf-Of or
// refresh (AADSTS50173), and every token issued from now on is issued at at or
// later. The Graph emulator learns of it separately (graph.Server.RevokeSessions),
// as Graph does through continuous access evaluation.
func (s *Server) RevokeSessions(oid string, at time.Time) {
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	s.state(oid).revokedAt = at.Unix()
}

// ResetSession forgets what the user did since signing in (step-ups), the
// challenges sent to them and any revocation: a new sign-in.
func (s *Server) ResetSession(oid string) {
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	delete(s.obo.states, oid)
}

// revokedBefore reports whether a token of oid issued at iat is revoked.
func (s *Server) revokedBefore(oid string, iat int64) bool {
	s.obo.mu.RLock()
	defer s.obo.mu.RUnlock()
	st := s.obo.states[oid]
	return st != nil && iat < st.revokedAt
}

// notBeforeRevocation moves t to the user's revocation time if it is earlier:
// a token issued after RevokeSessions is issued after the revocation.
func (s *Server) notBeforeRevocation(oid string, t time.Time) time.Time {
	s.obo.mu.RLock()
	defer s.obo.mu.RUnlock()
	if st := s.obo.states[oid]; st != nil && t.Unix() < st.revokedAt {
		return time.Unix(st.revokedAt, 0)
	}
	return t
}

// recordChallenge remembers the policy IDs of a claims challenge sent to oid.
func (s *Server) recordChallenge(oid, claims string) {
	req, _ := parseClaimsRequest(claims)
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	st := s.state(oid)
	for _, id := range req["polids"].values() {
		if !slices.Contains(st.challenged, id) {
			st.challenged = append(st.challenged, id)
		}
	}
}

// claimSpec is one member of a claims request (OpenID Connect Core 5.5.1).
type claimSpec struct {
	Essential bool     `json:"essential"`
	Value     string   `json:"value"`
	Values    []string `json:"values"`
}

func (c *claimSpec) values() []string {
	if c == nil {
		return nil
	}
	out := slices.Clone(c.Values)
	if c.Value != "" {
		out = append(out, c.Value)
	}
	return out
}

// parseClaimsRequest reads the access_token member of a claims request. A
// request that is not JSON of that form yields nothing.
func parseClaimsRequest(claims string) (map[string]*claimSpec, bool) {
	var req struct {
		AccessToken map[string]*claimSpec `json:"access_token"`
	}
	if claims == "" || json.Unmarshal([]byte(claims), &req) != nil {
		return nil, false
	}
	return req.AccessToken, true
}

// clientCapabilities are the known capabilities a claims request declares.
// The claims challenge doc: "The value of the xms_cc claim request is included
// as the value of the xms_cc claim in the access token, if it's a known value.
// The only currently known value is cp1." and "The values aren't
// case-sensitive", so MSAL Node's "CP1" is cp1.
func clientCapabilities(claims string) []string {
	req, _ := parseClaimsRequest(claims)
	for _, v := range req["xms_cc"].values() {
		if strings.EqualFold(v, "cp1") {
			return []string{"cp1"}
		}
	}
	return nil
}

// honour applies a claims request that comes with the user's sign-in (the
// pane's token request, with the challenge it was given) and returns every
// step-up of the session so far and the earliest issue time the request asks for. Entra
// honours only what it documents and this user can satisfy:
//   - polids naming a challenge Entra sent the user (AADSTS50076's claims, the
//     On-Behalf-Of doc's form): the user completes MFA;
//   - acrs (value or values) naming an authentication context the tenant
//     defines (developer guide to Conditional Access authentication context);
//     its policy requires MFA, so the user completes MFA and the context is satisfied;
//   - nbf (continuous access evaluation): a token issued at or after it.
//
// Anything else, such as {"access_token":{"amr":{"values":["mfa"]}}}, which
// Entra does not document, is ignored: the token is issued as without claims.
func (s *Server) honour(u User, claims string) (stepUp session, notBefore int64) {
	req, _ := parseClaimsRequest(claims)
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	st := s.obo.states[u.ObjectID]
	if len(req) == 0 {
		if st == nil {
			return session{}, 0
		}
		return st.stepUp, 0
	}
	st = s.state(u.ObjectID)
	if ids := req["polids"].values(); len(ids) > 0 && !slices.ContainsFunc(ids, func(id string) bool { return !slices.Contains(st.challenged, id) }) {
		st.stepUp.addMethod("mfa")
	}
	for _, id := range req["acrs"].values() {
		if s.obo.contexts[u.TenantID][id] {
			st.stepUp.addMethod("mfa")
			st.stepUp.addContext(id)
		}
	}
	if nbf := req["nbf"]; nbf != nil {
		notBefore, _ = strconv.ParseInt(nbf.Value, 10, 64)
	}
	return st.stepUp, notBefore
}
