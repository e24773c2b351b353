package tokencache

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
)

// sessionLabel names what the store's session key is for, so it differs from
// the sealing key it is derived from and from any other use of that secret.
const sessionLabel = "addinsso/tokencache/session/v1"

// storeSessionKey derives the key that hashes sessions into row keys from the
// current sealing key's secret. Every instance holds that secret, so every
// instance computes the same row for the same bootstrap token, and nobody
// without it can compute or check one. Rotating the sealing key changes it:
// rows keyed under the old key are then never looked up again (one extra
// exchange per session, no error) and go when their expiry passes, by Sweep
// or by their own session's end.
func storeSessionKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(sessionLabel))
	return m.Sum(nil)
}

// randomSessionKey is the key of a memory-only cache: nothing outside this
// process ever sees its hashes, so nothing needs to agree on it.
func randomSessionKey() []byte {
	key := make([]byte, sha256.Size)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return key
}

// sessionHasher computes HMAC-SHA256 of bootstrap tokens under one key. A
// hash is computed on every Get, so the MAC state (the key already absorbed)
// and a scratch buffer are pooled: a hit allocates nothing for it.
type sessionHasher struct {
	pool sync.Pool // of *sessionMAC
}

type sessionMAC struct {
	mac hash.Hash
	buf []byte // the token's bytes, then the sum: Write takes a []byte
}

func newSessionHasher(key []byte) *sessionHasher {
	key = append([]byte(nil), key...)
	h := &sessionHasher{}
	h.pool.New = func() any { return &sessionMAC{mac: hmac.New(sha256.New, key)} }
	return h
}

func (h *sessionHasher) sum(session string) (out [sha256.Size]byte) {
	m := h.pool.Get().(*sessionMAC)
	m.mac.Reset()
	m.buf = append(m.buf[:0], session...)
	m.mac.Write(m.buf)
	m.buf = m.mac.Sum(m.buf[:0])
	copy(out[:], m.buf)
	h.pool.Put(m)
	return out
}
