package tokencache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/addinsso/addinsso/handler/entra"
)

// Key identifies a cache entry. Build it only from the verified token (its
// tid and oid claims, the token itself and its exp) and the scope set asked
// of Graph, never from request input: the key is the only thing that keeps
// one user's token from another, and one session's from another's.
type Key struct {
	TenantID string
	ObjectID string
	Scopes   []string // compared as a set: order and case do not matter
	// Session is the bootstrap token (the On-Behalf-Of assertion) the Graph
	// token is exchanged for. Entra evaluates Conditional Access (MFA, device,
	// location) at each exchange, so a Graph token one session obtained must
	// never serve another session of the same user, which Entra might have
	// refused: an entry answers only the very token it was exchanged for, as
	// in MSAL's own On-Behalf-Of cache. The cache never stores or logs it,
	// only a keyed hash of it. Required.
	Session string
	// SessionExpiresAt is Session's expiry: the entry lives no longer than the
	// token it was exchanged for. Zero means no cap.
	SessionExpiresAt time.Time
}

// entryKey is a Key in canonical form: lower-case GUIDs, the scope set
// lower-cased, de-duplicated, sorted and joined by single spaces (scopes are
// split on whitespace first, so the join cannot make two sets collide), and
// the session's keyed hash in place of the token.
type entryKey struct {
	tenant, object, scopes string
	session                [sha256.Size]byte
}

const (
	// maxScopes bounds the scope set so a key stays small.
	maxScopes = 64
	// maxSessionBytes bounds the bootstrap token hashed on every call; the
	// verifier refuses larger tokens anyway.
	maxSessionBytes = 16 << 10
)

var (
	errTenant  = errors.New("tenant ID is not a GUID")
	errObject  = errors.New("object ID is not a GUID")
	errScopes  = errors.New("scope set is empty or larger than 64 scopes")
	errSession = errors.New("session (the bootstrap token) is empty or larger than 16 KiB")
)

// canonical validates k and returns its canonical form, with the session
// hashed by h. Tenant and object IDs must be GUIDs: they become storage keys,
// where characters such as / \ # ? are forbidden or special, and Entra only
// issues GUIDs, so anything else is refused rather than escaped.
func (k Key) canonical(h *sessionHasher) (entryKey, error) {
	if !entra.IsGUID(k.TenantID) {
		return entryKey{}, errTenant
	}
	if !entra.IsGUID(k.ObjectID) {
		return entryKey{}, errObject
	}
	if k.Session == "" || len(k.Session) > maxSessionBytes {
		return entryKey{}, errSession
	}
	// Lower-casing the joined set once, then splitting it, costs fewer
	// allocations than lower-casing scope by scope; this runs on every hit.
	var set []string
	if len(k.Scopes) == 1 {
		set = strings.Fields(strings.ToLower(k.Scopes[0]))
	} else {
		set = strings.Fields(strings.ToLower(strings.Join(k.Scopes, " ")))
	}
	slices.Sort(set)
	set = slices.Compact(set)
	if len(set) == 0 || len(set) > maxScopes {
		return entryKey{}, errScopes
	}
	return entryKey{
		tenant:  strings.ToLower(k.TenantID),
		object:  strings.ToLower(k.ObjectID),
		scopes:  strings.Join(set, " "),
		session: h.sum(k.Session),
	}, nil
}

// processSessions hashes sessions for String: its identity only joins
// concurrent exchanges inside this process, so a key of the process's own
// does, and no other process can link a String to a token.
var processSessions = newSessionHasher(randomSessionKey())

// String is k's canonical form: equal for keys that name the same entry (the
// scope set compared without order or case, the same bootstrap token). The
// session appears only as its keyed hash. An invalid key keeps its IDs and
// scopes as given, so it can never equal another user's.
func (k Key) String() string {
	e, err := k.canonical(processSessions)
	if err != nil {
		sum := processSessions.sum(k.Session)
		return "invalid|" + k.TenantID + "|" + k.ObjectID + "|" + strings.Join(k.Scopes, " ") + "|" + hex.EncodeToString(sum[:])
	}
	return e.tenant + "|" + e.object + "|" + e.scopes + "|" + hex.EncodeToString(e.session[:])
}

// userPartition is the user's partition key: it holds every row of one user,
// whatever the session or scope set, so a sign-out can remove them at once.
// Both IDs are lower-case GUIDs.
func userPartition(tenant, object string) string {
	return tenant + "_" + object
}

// rowKeys places an entry in the store: one partition per user, one row per
// scope set and session. The row key is hex SHA-256 of the canonical scope
// set and hex HMAC of the session, so it has a fixed length (129 bytes) and
// only hex digits and '_' whatever the scopes are, and nobody without the
// server's key can tell from it which bootstrap token it serves, or check a
// token they hold against it. The scope sets are the app's configured ones,
// no secret, so a plain hash does for them.
func (e entryKey) rowKeys() (partitionKey, rowKey string) {
	scopes := sha256.Sum256([]byte(e.scopes))
	var b [2*sha256.Size + 1 + 2*sha256.Size]byte
	hex.Encode(b[:2*sha256.Size], scopes[:])
	b[2*sha256.Size] = '_'
	hex.Encode(b[2*sha256.Size+1:], e.session[:])
	return userPartition(e.tenant, e.object), string(b[:])
}
