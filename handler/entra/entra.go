// Package entra holds the facts about Entra ID and the Microsoft services
// behind it (Microsoft Graph, Table Storage) that more than one package needs:
// the shape of their IDs, the Graph token they issue, how they say "retry
// later" and "ask for more claims", and the one policy for calling them over
// HTTP. It is a leaf: it imports nothing of this module.
package entra

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Token is a delegated access token Entra ID issued for Microsoft Graph,
// On-Behalf-Of a user. It is for calling Graph only: never for a response
// body or a log.
type Token struct {
	AccessToken string
	ExpiresAt   time.Time
	Scopes      []string // as granted, short names (User.Read)
}

// IsGUID reports whether s is a GUID in its 8-4-4-4-12 hexadecimal form, in
// either case. Entra's tenant, object, client and correlation IDs are all
// GUIDs; anything else is refused rather than escaped wherever an ID becomes
// part of a URL, a storage key or a header.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// NewGUID returns a random (version 4) GUID in lower case.
func NewGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:], b[10:])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// MaxClaimsBytes bounds a claims challenge; Entra's and Graph's are a few
// hundred bytes.
const MaxClaimsBytes = 8 << 10

var errNotClaims = errors.New("not a claims challenge (a JSON object, or base64 of one)")

// DecodeClaims returns the JSON of a claims challenge given as JSON (as Entra's
// token endpoint and our problems carry it) or base64-encoded in any of its
// alphabets (as a WWW-Authenticate challenge carries it). "" stays "".
func DecodeClaims(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", nil
	case len(v) > MaxClaimsBytes:
		return "", errNotClaims
	case isJSONObject([]byte(v)):
		return v, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && isJSONObject(b) {
			return string(b), nil
		}
	}
	return "", errNotClaims
}

func isJSONObject(b []byte) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(b, &m) == nil && m != nil
}
