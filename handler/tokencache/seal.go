package tokencache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/addinsso/addinsso/handler/config"
)

// sealer encrypts rows with AES-256-GCM (config checks each key is 32 bytes)
// under the first configured key and opens them with any configured key.
// Row keys hash sessions under a key derived from the first key (see
// storeSessionKey), so an instance finds only rows placed under its own first
// key: a rotation costs each session one extra exchange, and the rows the old
// key sealed are never read again and go when they expire. Listing the old
// key second therefore serves no read; it remains accepted so a rotation
// needs no change of the setting's shape.
type sealer struct {
	current string
	aeads   map[string]cipher.AEAD
}

// aadLabel versions the sealed format: a change of format changes the label,
// and rows of the old format then fail to open (a miss), never misparse.
// v2: rows are per user and session, and the sealed token carries the
// entry's own expiry. (v1 rows, per tenant, sit where v2 never looks; they go
// when their clear expiry passes.)
const aadLabel = "addinsso/tokencache/v2"

func newSealer(keys []config.Key) (*sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no key: a shared store is configured, so cached tokens must be encrypted")
	}
	s := &sealer{current: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		block, err := aes.NewCipher(k.Secret)
		if err == nil {
			s.aeads[k.ID], err = cipher.NewGCM(block)
		}
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.ID, err)
		}
	}
	return s, nil
}

// additionalData binds a ciphertext to the row it was written for and the key
// that sealed it: a row copied under another user's key, or relabelled with
// another key ID, fails authentication instead of decrypting.
func additionalData(partitionKey, rowKey, keyID string) []byte {
	return []byte(aadLabel + "\x00" + partitionKey + "\x00" + rowKey + "\x00" + keyID)
}

// seal returns the current key's ID and nonce||ciphertext||tag.
func (s *sealer) seal(partitionKey, rowKey string, plaintext []byte) (keyID string, blob []byte) {
	aead := s.aeads[s.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return s.current, aead.Seal(nonce, nonce, plaintext, additionalData(partitionKey, rowKey, s.current))
}

var errUnknownKey = errors.New("sealed with a key that is not configured")

func (s *sealer) open(partitionKey, rowKey, keyID string, blob []byte) ([]byte, error) {
	aead, ok := s.aeads[keyID]
	if !ok {
		return nil, errUnknownKey
	}
	if len(blob) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("ciphertext too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, blob[:n], blob[n:], additionalData(partitionKey, rowKey, keyID))
}
