// Package web is the HTTP plumbing every Function shares: correlation IDs,
// structured request logs, per-request deadlines, and every error answered as
// a problem (package problem), from a Function, the router or a panic.
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// CorrelationHeader carries the correlation ID in and out.
const CorrelationHeader = "X-Correlation-Id"

var correlationPattern = regexp.MustCompile(`^[A-Za-z0-9._\-]{8,64}$`)

type ctxKey struct{}

type requestInfo struct {
	correlationID string
	log           *slog.Logger // the process's, for Logger
	code          problem.Code
	cause         error
	problemType   string // "": problem.MediaType
}

// AnswerProblemsAsJSON makes the request's problems application/json, the
// media type Graph's own errors have, for a Function whose callers are Graph
// clients: Graph's SDKs parse an error body only as application/json.
func AnswerProblemsAsJSON(c echo.Context) {
	if ri, ok := c.Get("web.request").(*requestInfo); ok {
		ri.problemType = problem.JSONMediaType
	}
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
				id = entra.NewGUID()
			}
			ri := &requestInfo{correlationID: id, log: log}
			c.Set("web.request", ri)
			c.Response().Header().Set(CorrelationHeader, id)

			ctx, cancel := context.WithTimeout(context.WithValue(req.Context(), ctxKey{}, id), timeout)
			defer cancel()
			c.SetRequest(req.WithContext(ctx))

			h := next
			if req.Method == http.MethodOptions && c.Get(echo.ContextKeyHeaderAllow) != nil {
				// The router would answer 204 with Allow, as for CORS preflight;
				// this API serves no preflight, so OPTIONS is refused like any
				// method a Function does not serve.
				h = echo.MethodNotAllowedHandler
			}
			start := time.Now()
			err := func() (err error) {
				defer func() {
					if v := recover(); v != nil {
						if v == http.ErrAbortHandler { // a deliberate abort of a streamed answer
							panic(v)
						}
						err = problem.New(problem.InternalError, "An unexpected error occurred; the correlation ID finds it in the logs.").
							WithCause(fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
					}
				}()
				return h(c)
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
	if h := c.Response().Header(); p.Code == problem.MethodNotAllowed && h.Get("Allow") != "" {
		// The router lists OPTIONS among the allowed methods; it is served nowhere.
		methods := slices.DeleteFunc(strings.Split(h.Get("Allow"), ","), func(m string) bool { return strings.TrimSpace(m) == http.MethodOptions })
		h.Set("Allow", strings.Join(methods, ","))
	}
	mediaType := problem.MediaType
	if ri, ok := c.Get("web.request").(*requestInfo); ok {
		ri.code, ri.cause = p.Code, p.Cause
		if ri.problemType != "" {
			mediaType = ri.problemType
		}
	}
	problem.Write(c.Response(), p, CorrelationID(c), mediaType)
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
			return problem.New(problem.NotFound, "No Function serves this path.")
		case http.StatusMethodNotAllowed:
			return problem.New(problem.MethodNotAllowed, "This Function does not accept that method.")
		case http.StatusRequestEntityTooLarge:
			return problem.New(problem.RequestTooLarge, "The request body is too large.")
		case http.StatusBadRequest:
			return problem.New(problem.BadRequest, "The request is malformed.")
		}
	}
	return problem.New(problem.InternalError, "An unexpected error occurred; the correlation ID finds it in the logs.").WithCause(err)
}
