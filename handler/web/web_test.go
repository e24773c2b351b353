package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/dev/capture"
	"github.com/addinsso/addinsso/handler/problem"
)

func serve(t *testing.T, logs *capture.Buffer, h echo.HandlerFunc, header map[string]string) (*httptest.ResponseRecorder, problem.Body) {
	t.Helper()
	e := echo.New()
	e.HTTPErrorHandler = ErrorHandler
	e.Use(Middleware(NewLogger(logs), time.Second))
	e.GET("/x", h)
	req := httptest.NewRequest("GET", "/x?secret=query", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	var b problem.Body
	json.Unmarshal(rec.Body.Bytes(), &b)
	return rec, b
}

// A panic is answered as a problem with the correlation ID, its stack logged, the process alive.
func TestPanicBecomesProblem(t *testing.T) {
	var logs capture.Buffer
	rec, b := serve(t, &logs, func(c echo.Context) error { panic("boom") }, map[string]string{CorrelationHeader: "pane-abcdef12"})
	if rec.Code != 500 || b.Code != problem.InternalError || b.CorrelationID != "pane-abcdef12" || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "panic: boom") || !strings.Contains(logs.String(), `"correlationId":"pane-abcdef12"`) {
		t.Errorf("logs: %s", logs.String())
	}
}

// Packages below the Functions log with the request's context and get its correlation ID once.
func TestContextLogsCarryCorrelationID(t *testing.T) {
	var logs capture.Buffer
	log := NewLogger(&logs)
	e := echo.New()
	e.HTTPErrorHandler = ErrorHandler
	e.Use(Middleware(log, time.Second))
	e.GET("/x", func(c echo.Context) error {
		log.WarnContext(c.Request().Context(), "deep in a package")
		Logger(c).Info("in a Function")
		return c.NoContent(http.StatusNoContent)
	})
	req := httptest.NewRequest("GET", "/x?token=eyJhbGciOi", nil)
	req.Header.Set(CorrelationHeader, "corr-12345678")
	req.Header.Set("X-Addin-Authorization", "Bearer eyJhbGciOi.secret.sig")
	e.ServeHTTP(httptest.NewRecorder(), req)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines: %s", len(lines), logs.String())
	}
	for _, l := range lines {
		if strings.Count(l, `"correlationId":"corr-12345678"`) != 1 {
			t.Errorf("line without exactly one correlation ID: %s", l)
		}
		if strings.Contains(l, "eyJ") {
			t.Errorf("a token or query reached the log: %s", l)
		}
	}
}

func TestCorrelationIDIsSanitised(t *testing.T) {
	var logs capture.Buffer
	rec, _ := serve(t, &logs, func(c echo.Context) error { return c.NoContent(204) }, map[string]string{CorrelationHeader: "x\"}\n{\"forged\":1"})
	got := rec.Header().Get(CorrelationHeader)
	if !correlationPattern.MatchString(got) || strings.Contains(logs.String(), "forged") {
		t.Errorf("correlation ID %q, logs %s", got, logs.String())
	}
}

// TestOptionsIsAMethodNotServed: OPTIONS on a Function's path is a
// method_not_allowed problem with Allow, not the router's bare 204, and
// every other route still works after it.
func TestOptionsIsAMethodNotServed(t *testing.T) {
	e := echo.New()
	e.HTTPErrorHandler = ErrorHandler
	e.Use(Middleware(slog.New(slog.DiscardHandler), time.Second))
	e.GET("/api/x", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	for range 2 {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/api/x", nil))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Content-Type") != "application/problem+json" ||
			!strings.Contains(rec.Header().Get("Allow"), "GET") || !strings.Contains(rec.Body.String(), `"code":"method_not_allowed"`) {
			t.Errorf("OPTIONS: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
		rec = httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", "/api/x", nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET after OPTIONS: %d", rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("OPTIONS", "/nowhere", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("OPTIONS on no route: %d, want 404", rec.Code)
	}
}
