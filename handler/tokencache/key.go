package tokencache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
)

// Key identifies a cache entry. Build it only from the verified token (its
// tid and oid claims) and the scope set asked of Graph, never from request
// input: the key is the only thing that keeps one user's token from another.
type Key struct {
	TenantID string
	ObjectID string
	Scopes   []string // compared as a set: order and case do not matter
}

// entryKey is a Key in canonical form: lower-case GUIDs and the scope set
// lower-cased, de-duplicated, sorted and joined by single spaces. Scopes are
// split on whitespace first, so the join cannot make two sets collide.
type entryKey struct {
	tenant, object, scopes string
}

// maxScopes bounds the scope set so a key stays small.
const maxScopes = 64

var (
	errTenant = errors.New("tenant ID is not a GUID")
	errObject = errors.New("object ID is not a GUID")
	errScopes = errors.New("scope set is empty or larger than 64 scopes")
)

// canonical validates k and returns its canonical form. Tenant and object IDs
// must be GUIDs: they become Table Storage keys, which forbid / \ # ? and
// control characters, and Entra only issues GUIDs, so anything else is refused
// rather than escaped.
func (k Key) canonical() (entryKey, error) {
	if !isGUID(k.TenantID) {
		return entryKey{}, errTenant
	}
	if !isGUID(k.ObjectID) {
		return entryKey{}, errObject
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
	return entryKey{tenant: strings.ToLower(k.TenantID), object: strings.ToLower(k.ObjectID), scopes: strings.Join(set, " ")}, nil
}

// String is k's canonical form: equal for keys that name the same entry (the
// scope set compared without order or case). An invalid key keeps its fields
// as given, so it can never equal another user's.
func (k Key) String() string {
	e, err := k.canonical()
	if err != nil {
		return "invalid|" + k.TenantID + "|" + k.ObjectID + "|" + strings.Join(k.Scopes, " ")
	}
	return e.tenant + "|" + e.object + "|" + e.scopes
}

// isGUID reports whether s is a GUID in its 8-4-4-4-12 hex form, either case.
func isGUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	for i := range len(s) {
		if !hexDigit[s[i]] && i != 8 && i != 13 && i != 18 && i != 23 {
			return false
		}
	}
	return true
}

var hexDigit = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

// rowKeys places an entry in the table: one partition per tenant, one row per
// user and scope set. The scope set is hashed so the row key has a fixed
// length and only hex characters whatever the scopes are.
func (e entryKey) rowKeys() (partitionKey, rowKey string) {
	sum := sha256.Sum256([]byte(e.scopes))
	return e.tenant, e.object + "_" + hex.EncodeToString(sum[:])
}
