package tokencache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/addinsso/addinsso/handler/entra"
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
// must be GUIDs: they become storage keys, where characters such as / \ # ?
// are forbidden or special, and Entra only issues GUIDs, so anything else is
// refused rather than escaped.
func (k Key) canonical() (entryKey, error) {
	if !entra.IsGUID(k.TenantID) {
		return entryKey{}, errTenant
	}
	if !entra.IsGUID(k.ObjectID) {
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

// rowKeys places an entry in the store: one partition per tenant, one row per
// user and scope set. The scope set is hashed so the row key has a fixed
// length and only hex characters whatever the scopes are.
func (e entryKey) rowKeys() (partitionKey, rowKey string) {
	sum := sha256.Sum256([]byte(e.scopes))
	return e.tenant, e.object + "_" + hex.EncodeToString(sum[:])
}
