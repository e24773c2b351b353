package entra

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// IsLoopback reports whether host is this machine: localhost, 127.0.0.0/8 or
// ::1. Plain http and emulators are accepted there only.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MaxRetryAfter caps a Retry-After, so a bad header cannot park a caller.
const MaxRetryAfter = 5 * time.Minute

// RetryAfter reads a Retry-After header: delay-seconds, which Graph sometimes
// sends with a fraction ("2.5"), or an HTTP-date. known is false when there
// is none or it does not parse; a known delay is capped at MaxRetryAfter.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, known bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if decimal(v) {
		secs, _ := strconv.ParseFloat(v, 64)
		return time.Duration(min(secs, MaxRetryAfter.Seconds()) * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}

// decimal reports whether v is digits with at most one decimal point among
// them: no sign, exponent, hex, Inf or NaN, all of which ParseFloat takes.
func decimal(v string) bool {
	digits, point := 0, false
	for i := range len(v) {
		switch c := v[i]; {
		case '0' <= c && c <= '9':
			digits++
		case c == '.' && !point && i > 0:
			point = true
		default:
			return false
		}
	}
	return digits > 0 && len(v) <= 32
}

// Seconds is d in whole seconds, rounded up: Retry-After and the messages
// that quote it speak in seconds, and "retry after 0 s" would be a lie.
func Seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// HTTPClient is the one policy for calling Entra ID, Microsoft Graph and the
// platform's endpoints: TLS 1.2 or later with the system's roots (emulators
// are trusted only through SSL_CERT_FILE), bounded dial, handshake and
// response-header times, and no redirect ever followed. A redirect is relayed
// or refused by the caller: a request carrying a token or a credential must
// never be re-sent to where an answer points, least of all from https to http.
// The whole call is bounded by the caller's context.
func HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	t.MaxIdleConnsPerHost = 64
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
