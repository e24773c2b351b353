package problem

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestEveryCodeAnswersItsContract(t *testing.T) {
	for code, k := range kinds {
		rec := httptest.NewRecorder()
		Write(rec, New(code, "detail of %s", code), "corr-12345678", MediaType)
		var b Body
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if rec.Code != k.status || b.Status != k.status || b.Code != code || b.Action != k.action ||
			b.CorrelationID != "corr-12345678" || b.Type != TypeBase+string(code) || b.Title == "" {
			t.Errorf("%s: %d %+v", code, rec.Code, b)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", code, ct)
		}
		if www := rec.Header().Get("WWW-Authenticate"); (k.status == http.StatusUnauthorized) != (www != "") && code != InsufficientScope {
			t.Errorf("%s: WWW-Authenticate %q on %d", code, www, k.status)
		}
	}
}

func TestChallengeAndRetry(t *testing.T) {
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	e := New(ClaimsChallenge, "step up").WithClaims(claims)
	rec := httptest.NewRecorder()
	Write(rec, e, "", MediaType)
	www := rec.Header().Get("WWW-Authenticate")
	if !strings.HasPrefix(www, `Bearer error="insufficient_claims"`) || !strings.Contains(www, `claims="`+base64.StdEncoding.EncodeToString([]byte(claims))+`"`) {
		t.Errorf("WWW-Authenticate = %q", www)
	}
	var b Body
	json.Unmarshal(rec.Body.Bytes(), &b)
	if b.Claims != claims || b.Action != AuthChallenge {
		t.Errorf("body = %+v", b)
	}

	e = New(UpstreamUnavailable, "slow down").WithRetryAfter(1500 * time.Millisecond).WithStatus(http.StatusTooManyRequests)
	rec = httptest.NewRecorder()
	Write(rec, e, "", MediaType)
	json.Unmarshal(rec.Body.Bytes(), &b)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || b.RetryAfter != 2 || b.Action != RetryLater {
		t.Errorf("%d Retry-After %q body %+v", rec.Code, rec.Header().Get("Retry-After"), b)
	}
}

// TestGraphShapedError: Graph's SDKs read error.code, error.message and
// error.innerError's request-id; they find ours there.
func TestGraphShapedError(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Client-Request-Id", "00000000-0000-4000-8000-000000000001")
	Write(rec, New(ConsentRequired, "Consent is missing."), "corr-123", JSONMediaType)
	var doc struct {
		Code  Code
		Error struct {
			Code, Message string
			InnerError    map[string]string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	in := doc.Error.InnerError
	if ct := rec.Header().Get("Content-Type"); ct != JSONMediaType {
		t.Errorf("Content-Type %q, want %q", ct, JSONMediaType)
	}
	if doc.Code != ConsentRequired || doc.Error.Code != "consent_required" || doc.Error.Message != "Consent is missing." ||
		in["request-id"] != "corr-123" || in["client-request-id"] != "00000000-0000-4000-8000-000000000001" || in["date"] == "" {
		t.Errorf("body %s", rec.Body)
	}
}

func TestCauseIsNeverSent(t *testing.T) {
	e := New(ServerMisconfigured, "check the credential").WithCause(errStr("AADSTS7000215 secret=hunter2"))
	rec := httptest.NewRecorder()
	Write(rec, e, "", MediaType)
	if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "AADSTS7000215") {
		t.Errorf("the cause reached the body: %s", rec.Body)
	}
}

func TestUnknownCodePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted an unknown code")
		}
	}()
	New("made_up", "x")
}

// TestEveryCodeHasItsReadmeSection: a problem's type URI points at the
// README section of its code, so every code has one, and the README documents
// no code that does not exist.
func TestEveryCodeHasItsReadmeSection(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[Code]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if name, ok := strings.CutPrefix(line, "### `"); ok && strings.HasSuffix(name, "`") {
			documented[Code(strings.TrimSuffix(name, "`"))] = true
		}
	}
	for code := range kinds {
		if !documented[code] {
			t.Errorf("README.md has no section ### `%s` (the problem's type URI points there)", code)
		}
	}
	for code := range documented {
		if _, ok := kinds[code]; !ok {
			t.Errorf("README.md documents %q, which is not a code", code)
		}
	}
	if !strings.HasPrefix(TypeBase, "https://") || !strings.HasSuffix(TypeBase, "README.md#") {
		t.Errorf("TypeBase %q does not point at the README", TypeBase)
	}
}

type errStr string

func (e errStr) Error() string { return string(e) }

// TestBodyOfIsWhatWriteSends: a problem carried inside another document (an
// inner response of a JSON batch) is the same document Write answers with.
func TestBodyOfIsWhatWriteSends(t *testing.T) {
	e := New(UpstreamUnavailable, "Slow down.").WithRetryAfter(1500 * time.Millisecond).WithStatus(http.StatusTooManyRequests).WithClaims(`{"a":1}`)
	rec := httptest.NewRecorder()
	Write(rec, e, "corr-123", MediaType)
	var written Body
	if err := json.Unmarshal(rec.Body.Bytes(), &written); err != nil {
		t.Fatal(err)
	}
	got := BodyOf(e, "corr-123")
	got.Error.InnerError.Date = written.Error.InnerError.Date
	if got != written || got.Status != 429 || got.RetryAfter != 2 || got.Claims != `{"a":1}` || got.Error.InnerError.RequestID != "corr-123" {
		t.Errorf("BodyOf %+v, Write sent %+v", got, written)
	}
}
