// Package web is the HTTP plumbing every Function shares: correlation IDs,
// structured request logs, reading the add-in's bearer token, per-request
// deadlines and answering every error as a problem (DESIGN.md section 4).
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/token"
)

// CorrelationHeader carries the correlation ID in and out.
const CorrelationHeader = "X-Correlation-Id"

// AddinAuthorization is where the task pane sends its token: Static Web Apps
// replaces the Authorization header of /api calls with its own.
const AddinAuthorization = "X-Addin-Authorization"

var correlationPattern = regexp.MustCompile(`^[A-Za-z0-9._\-]{8,64}$`)

type ctxKey struct{}

type requestInfo struct {
	correlationID string
	log           *slog.Logger // the process's, for Logger
	code          problem.Code
	cause         error
}

// CorrelationID is the request's correlation ID ("" outside a request).
func CorrelationID(c echo.Context) string {
	if ri, ok := c.Get("web.request").(*requestInfo); ok {
		return ri.correlationID
	}
	return ""
}

// Logger is the request's logger, carrying its correlation ID. It is made
// only when asked for: most requests log nothing but their request line.
func Logger(c echo.Context) *slog.Logger {
	if ri, ok := c.Get("web.request").(*requestInfo); ok {
		return slog.New(plain(ri.log.Handler())).With("correlationId", ri.correlationID)
	}
	return slog.Default()
}

// Middleware assigns the correlation ID (the caller's, when it is a plain one),
// bounds the request's time, and logs one structured line per request: never a
// header, a body or a query string, so no token reaches the logs.
func Middleware(log *slog.Logger, timeout time.Duration) echo.MiddlewareFunc {
	log = slog.New(correlated{plain(log.Handler())}) // the request line takes the ID from its context
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			id := req.Header.Get(CorrelationHeader)
			if !correlationPattern.MatchString(id) {
				id = newID()
			}
			ri := &requestInfo{correlationID: id, log: log}
			c.Set("web.request", ri)
			c.Response().Header().Set(CorrelationHeader, id)

			ctx, cancel := context.WithTimeout(context.WithValue(req.Context(), ctxKey{}, id), timeout)
			defer cancel()
			c.SetRequest(req.WithContext(ctx))

			start := time.Now()
			err := func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						if v == http.ErrAbortHandler { // a deliberate abort of a streamed answer
							panic(v)
						}
						err = problem.New(problem.InternalError, "an unexpected error occurred; the correlation ID finds it in the logs").
							WithCause(fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
					}
				}()
				return next(c)
			}()
			if err != nil {
				c.Error(err) // answers through ErrorHandler, which records code and cause
			}
			attrs := []any{
				"method", req.Method,
				"path", req.URL.Path,
				"status", c.Response().Status,
				"durationMs", float64(time.Since(start).Microseconds()) / 1000,
			}
			if ri.code != "" {
				attrs = append(attrs, "code", ri.code)
			}
			if ri.cause != nil {
				attrs = append(attrs, "cause", ri.cause.Error())
			}
			level := slog.LevelInfo
			if c.Response().Status >= 500 {
				level = slog.LevelError
			}
			log.Log(ctx, level, "request", attrs...)
			return nil
		}
	}
}

// NewLogger is the process's logger: JSON lines to w. A record logged with a
// request's context (InfoContext, LogAttrs) carries the request's correlation
// ID, so the packages below the Functions need no logger of their own.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(correlated{slog.NewJSONHandler(w, nil)})
}

type correlated struct{ slog.Handler }

func (h correlated) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(ctxKey{}).(string); ok {
		r.AddAttrs(slog.String("correlationId", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h correlated) WithAttrs(attrs []slog.Attr) slog.Handler {
	return correlated{h.Handler.WithAttrs(attrs)}
}

func (h correlated) WithGroup(name string) slog.Handler { return correlated{h.Handler.WithGroup(name)} }

// plain unwraps correlated, for loggers that carry the ID as an attribute already.
func plain(h slog.Handler) slog.Handler {
	if c, ok := h.(correlated); ok {
		return c.Handler
	}
	return h
}

// ErrorHandler answers every error as application/problem+json.
func ErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := AsProblem(err)
	if ri, ok := c.Get("web.request").(*requestInfo); ok {
		ri.code, ri.cause = p.Code, p.Cause
	}
	problem.Write(c.Response(), p, CorrelationID(c))
}

// AsProblem maps any error to a problem: router errors to their codes, anything
// unexpected to a 500 whose cause is only logged.
func AsProblem(err error) *problem.Error {
	var p *problem.Error
	if errors.As(err, &p) {
		return p
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return problem.New(problem.NotFound, "no Function serves this path")
		case http.StatusMethodNotAllowed:
			return problem.New(problem.MethodNotAllowed, "this Function does not accept that method")
		case http.StatusRequestEntityTooLarge:
			return problem.New(problem.RequestTooLarge, "the request body is too large")
		case http.StatusBadRequest:
			return problem.New(problem.BadRequest, "the request is malformed")
		}
	}
	return problem.New(problem.InternalError, "an unexpected error occurred; the correlation ID finds it in the logs").WithCause(err)
}

// Authenticate verifies the add-in's token, read from X-Addin-Authorization
// first, then Authorization, and returns who the caller is and the token itself
// (the assertion for On-Behalf-Of). Errors are *problem.Error.
func Authenticate(r *http.Request, v *token.Verifier) (*token.Identity, string, error) {
	raw, header, err := bearerToken(r)
	if err != nil {
		return nil, "", err
	}
	id, err := v.Verify(r.Context(), raw)
	var p *problem.Error
	if header == "Authorization" && errors.As(err, &p) && p.Code == problem.InvalidToken {
		// Behind Static Web Apps this is the platform's token, not the add-in's.
		p.Detail += "; the token came from Authorization, which Static Web Apps replaces on /api calls: send it as " + AddinAuthorization
	}
	if err != nil {
		return nil, "", err
	}
	return id, raw, nil
}

// bearerToken reads the token and names the header it came from; "" means none was sent.
func bearerToken(r *http.Request) (tok, header string, err error) {
	v, header := r.Header.Get(AddinAuthorization), AddinAuthorization
	if v == "" {
		v, header = r.Header.Get("Authorization"), "Authorization"
	}
	if v == "" {
		return "", "", nil
	}
	scheme, tok, ok := strings.Cut(v, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", header, problem.New(problem.InvalidToken, "the %s header must be \"Bearer <access token>\"", header)
	}
	return tok, header, nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
