package graphroute

import (
	"strings"
	"testing"
)

// FuzzSplitPath feeds arbitrary raw paths to Split: whatever it
// accepts decodes to segments that cannot escape the route or Graph's host.
func FuzzSplitPath(f *testing.F) {
	for _, seed := range []string{
		"v1.0/me", "v1.0/me/photo/$value", "v1.0/me/messages/AAMk%3D", "v1.0/me/../users", "..%2f", "%2e%2e",
		"%252e", "...", "v1.0/.../x", "//evil.example", "https://evil.example/", `me\..`, "me%0d%0a", "me%00", "me;x=1", "me@evil", "%c0%ae",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		segs, err := Split(raw)
		if err != nil {
			return
		}
		if len(segs) == 0 {
			t.Fatalf("%q accepted with no segment", raw)
		}
		for _, s := range segs {
			if s == "" || strings.Trim(s, ".") == "" || strings.ContainsAny(s, "/\\?#%@:;") {
				t.Fatalf("%q accepted with segment %q", raw, s)
			}
			for i := 0; i < len(s); i++ {
				if s[i] < 0x21 || s[i] > 0x7e {
					t.Fatalf("%q accepted with byte %#x", raw, s[i])
				}
			}
		}
	})
}
