package graph

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Continuous access evaluation, as Graph does it. The claims challenge doc
// ("Claims challenges, claims requests and client capabilities"): "Your
// application receives claims challenges from popular services like Microsoft
// Graph only if it declares its client capabilities in its calls to the
// service", and "The xms_cc claim with a value of "cp1" in the access token is
// the authoritative way to identify a client application is capable of handling
// a claims challenge." A token without it is one Graph cannot evaluate
// continuously: it is served until it expires.
//
// After a critical event (RevokeSessions), a CAE-capable token issued before
// it gets 401 with the challenge of "How to use Continuous Access Evaluation
// enabled APIs": error="insufficient_claims" and the base64 claims request
// {"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}, the time
// of the event, which a token issued at or after it satisfies.

// capable reports whether an xms_cc claim declares cp1 ("The values aren't
// case-sensitive").
func capable(xmsCC any) bool {
	list, _ := xmsCC.([]any)
	for _, v := range list {
		if s, ok := v.(string); ok && strings.EqualFold(s, "cp1") {
			return true
		}
	}
	return false
}

// RevokeSessions is a critical event for the user oid at at (an administrator
// revoked their sessions): their CAE-capable tokens issued before at get a
// claims challenge for a token issued at or after at; tokens issued since pass,
// and tokens without cp1 are served as before. Whole seconds count, as in the
// tokens' iat.
func (s *Server) RevokeSessions(oid string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[oid] = at.Unix()
}

func (s *Server) revokedToken(u user) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.revoked[u.oid]
	return ok && u.cae && u.iat < at
}

// revocationChallenge answers a revoked CAE-capable token.
func (c *call) revocationChallenge(w http.ResponseWriter) {
	c.server.mu.Lock()
	at := c.server.revoked[c.user.oid]
	c.server.mu.Unlock()
	c.fail(w, Failure{Status: http.StatusUnauthorized, Claims: fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, at)})
}

func challengeHeader(claims string) string {
	return fmt.Sprintf(`Bearer realm="", authorization_uri="%s", error="insufficient_claims", claims="%s"`,
		authorizationURI, base64.StdEncoding.EncodeToString([]byte(claims)))
}

// hook runs fn once the user's request count reaches at.
type hook struct {
	at int64
	fn func()
}

// AfterRequests runs fn once n more requests of the user oid have been served
// (requests with a valid token, each inside a $batch included): a scenario's
// way to make something happen mid-session, such as a revocation after the
// first Graph call.
func (s *Server) AfterRequests(oid string, n int64, fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[oid] = append(s.hooks[oid], hook{at: s.counter(oid).Load() + n, fn: fn})
}

func (s *Server) runHooks(oid string) {
	n := s.counter(oid).Load()
	s.mu.Lock()
	var due []func()
	kept := s.hooks[oid][:0]
	for _, h := range s.hooks[oid] {
		if n >= h.at {
			due = append(due, h.fn)
		} else {
			kept = append(kept, h)
		}
	}
	if len(kept) == 0 {
		delete(s.hooks, oid)
	} else {
		s.hooks[oid] = kept
	}
	s.mu.Unlock()
	for _, fn := range due {
		fn()
	}
}
