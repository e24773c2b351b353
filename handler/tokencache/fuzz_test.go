package tokencache

import (
	"bytes"
	"testing"

	"github.com/addinsso/addinsso/handler/config"
)

// FuzzOpen feeds arbitrary rows to decryption: only a blob sealed under our key
// for these very row keys and key ID opens (each fuzzing worker seals its own,
// so the check cannot compare blobs), and nothing panics.
func FuzzOpen(f *testing.F) {
	s, err := newSealer([]config.Key{{ID: "k1", Secret: bytes.Repeat([]byte{7}, 32)}})
	if err != nil {
		f.Fatal(err)
	}
	// Keys as the cache makes them: the user's partition, then the scope
	// set's hash and the session's keyed hash.
	const pk, rk = "aaaaaaaa-0000-4000-8000-00000000000a_a11ce000-0000-4000-8000-000000000001", "5c0e_5e55"
	keyID, blob := s.seal(pk, rk, []byte(`{"t":"secret"}`))
	f.Add(pk, rk, keyID, blob)
	f.Add("aaaaaaaa-0000-4000-8000-00000000000a_b0b00000-0000-4000-8000-000000000002", rk, keyID, blob) // another user
	f.Add(pk, "5c0e_0the", keyID, blob)                                                                 // another session
	f.Add(pk+"_5c0e", "5e55", keyID, blob)                                                              // the separators moved
	f.Add(pk, rk, "k2", blob)
	f.Add(pk, rk, keyID, blob[:len(blob)-1])
	f.Add(pk, rk, keyID, []byte{})
	f.Fuzz(func(t *testing.T, p, r, id string, b []byte) {
		out, err := s.open(p, r, id, b)
		if err != nil {
			return
		}
		if p != pk || r != rk || id != keyID || string(out) != `{"t":"secret"}` {
			t.Fatalf("opened a row that was not sealed so: %q %q %q, out %q", p, r, id, out)
		}
	})
}
