package entra

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestIsGUID(t *testing.T) {
	for s, want := range map[string]bool{
		"aaaaaaaa-0000-4000-8000-00000000000a":  true,
		"AAAAAAAA-0000-4000-8000-00000000000A":  true,
		"aaaaaaaa-0000-4000-8000-00000000000":   false,
		"aaaaaaaa-0000-4000-8000-00000000000ab": false,
		"aaaaaaaa00000-4000-8000-00000000000a":  false,
		"gaaaaaaa-0000-4000-8000-00000000000a":  false,
		"../../aa-0000-4000-8000-00000000000a":  false,
		"":                                      false,
	} {
		if IsGUID(s) != want {
			t.Errorf("IsGUID(%q) = %v", s, !want)
		}
	}
	if g := NewGUID(); !IsGUID(g) || g != strings.ToLower(g) || g[14] != '4' || NewGUID() == g {
		t.Errorf("NewGUID() = %q", g)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		known bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"2.5", 2500 * time.Millisecond, true}, // Graph sends fractions
		{"0.25", 250 * time.Millisecond, true},
		{"86400", MaxRetryAfter, true},
		{"1e3", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"Inf", 0, false},
		{"NaN", 0, false},
		{"0x10", 0, false},
		{".5", 0, false},
		{"1.2.3", 0, false},
		{"soon", 0, false},
		{now.Add(42 * time.Second).Format(http.TimeFormat), 42 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
	}
	for _, tt := range tests {
		got, known := RetryAfter(http.Header{"Retry-After": {tt.value}}, now)
		if got != tt.want || known != tt.known {
			t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, known, tt.want, tt.known)
		}
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 0, -time.Second: 0, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 30 * time.Second: 30} {
		if got := Seconds(d); got != want {
			t.Errorf("Seconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestDecodeClaims(t *testing.T) {
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	for in, want := range map[string]string{
		"":                 "",
		claims:             claims,
		" " + claims + " ": claims,
		base64.StdEncoding.EncodeToString([]byte(claims)):    claims,
		base64.RawURLEncoding.EncodeToString([]byte(claims)): claims,
	} {
		if got, err := DecodeClaims(in); got != want || err != nil {
			t.Errorf("DecodeClaims(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"mfa please", `["mfa"]`, "null", `"x"`, base64.StdEncoding.EncodeToString([]byte("[1]")), "{" + strings.Repeat(" ", MaxClaimsBytes) + "}"} {
		if got, err := DecodeClaims(in); err == nil {
			t.Errorf("DecodeClaims(%.40q) = %q, want an error", in, got)
		}
	}
}

// FuzzDecodeClaims: whatever a caller or Graph sends, the answer is "" or a
// JSON object within the bound.
func FuzzDecodeClaims(f *testing.F) {
	for _, seed := range []string{"", "{}", `{"access_token":{}}`, "e30=", "e30", "null", "[", "\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := DecodeClaims(in)
		if err != nil {
			if got != "" {
				t.Fatalf("error with output %q", got)
			}
			return
		}
		var m map[string]json.RawMessage
		if got != "" && (json.Unmarshal([]byte(got), &m) != nil || m == nil || len(got) > MaxClaimsBytes) {
			t.Fatalf("%q decoded to %q, not a bounded JSON object", in, got)
		}
	})
}

// TestHTTPClientFollowsNoRedirect: a redirect is the caller's answer to
// handle, never a request re-sent with its token, least of all to http.
func TestHTTPClientFollowsNoRedirect(t *testing.T) {
	hits := 0
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer redirector.Close()
	c := HTTPClient()
	c.Transport.(*http.Transport).TLSClientConfig.RootCAs = redirector.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	req, _ := http.NewRequest("GET", redirector.URL, nil)
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits != 0 {
		t.Errorf("status %d, %d requests followed the redirect", resp.StatusCode, hits)
	}
	if tr := c.Transport.(*http.Transport); tr.TLSClientConfig.MinVersion < 0x0303 || tr.ResponseHeaderTimeout == 0 || tr.TLSHandshakeTimeout == 0 {
		t.Errorf("transport policy: %+v", tr)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"localhost.evil.example": false, "128.0.0.1": false, "10.0.0.1": false, "graph.microsoft.com": false, "": false,
	} {
		if IsLoopback(host) != want {
			t.Errorf("IsLoopback(%q) = %v", host, !want)
		}
	}
}
