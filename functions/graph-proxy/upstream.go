package graphproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
	"github.com/addinsso/addinsso/handler/web"
)

// send makes one attempt.
func (p *Proxy) send(x *exchange) (*http.Response, error) {
	x.attempts++
	var rd io.Reader
	if x.body != nil {
		if x.body.stream != nil {
			rd = x.body.stream
		} else {
			rd = bytes.NewReader(x.body.kept)
		}
	}
	req, err := http.NewRequestWithContext(x.ctx, x.c.Request().Method, x.target, rd)
	if err != nil {
		return nil, err
	}
	if x.body != nil {
		req.ContentLength = x.body.length
		if x.body.stream != nil {
			req.GetBody = nil // never replayed: it has been read
		}
	}
	// Attempts are sequential and an answered attempt's headers are written,
	// so each attempt can reuse the map with its own token.
	req.Header = x.header
	req.Header.Set("Authorization", "Bearer "+x.graphToken)
	// Straight to the transport, like httputil.ReverseProxy: a redirect is
	// Graph's answer to relay, never a request to make.
	return p.rt.RoundTrip(req)
}

// call sends the request, retrying once with a fresh Graph token after Graph
// refuses the cached one and, for a GET, once after a short Retry-After.
func (p *Proxy) call(x *exchange) (*http.Response, error) {
	ctx := x.ctx
	refreshed, waited := false, false
	for {
		resp, err := p.send(x)
		if err != nil {
			return nil, p.sendError(x, err)
		}
		status := resp.StatusCode
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			if claims, ok := claimsChallenge(resp.Header); ok {
				discard(resp)
				x.relayIDs(resp)
				if err := p.s.Tokens.Forget(ctx, x.caller.Identity); err != nil {
					web.Logger(x.c).Warn("graph claims challenge: the user's cached Graph tokens could not all be removed", "cause", err.Error())
				}
				return nil, problem.New(problem.ClaimsChallenge, "Microsoft Graph asks for more claims (continuous access evaluation or Conditional Access); get a token again with these claims and retry.").
					WithClaims(claims).WithCause(fmt.Errorf("graph %s: %d insufficient_claims", x.route, status))
			}
			if status == http.StatusForbidden {
				return resp, nil // Graph's own answer: missing permission, license, ...
			}
			code := graphErrorCode(resp)
			x.relayIDs(resp)
			if refreshed {
				return nil, problem.New(problem.ServerMisconfigured, "Microsoft Graph refused a freshly issued Graph token; check that GRAPH_BASE_URL is the Graph endpoint of the cloud Entra ID issues the tokens for.").
					WithCause(fmt.Errorf("graph %s: 401 %s after a fresh token", x.route, code))
			}
			refreshed = true
			refused := x.caller
			refused.Refused = true
			grant, err := p.s.Tokens.Get(ctx, refused)
			if err != nil {
				return nil, err
			}
			x.graphToken = grant.AccessToken
			if x.body.replayable() {
				continue
			}
			return nil, problem.New(problem.UpstreamUnavailable, "Microsoft Graph refused the cached Graph token and the request body was too large to send again; a fresh token is cached now: retry.").
				WithRetryAfter(time.Second).WithCause(fmt.Errorf("graph %s: 401 %s", x.route, code))

		case status == http.StatusTooManyRequests || status == http.StatusInternalServerError ||
			status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
			after, known := entra.RetryAfter(resp.Header, time.Now())
			if !waited && known && after <= shortRetryAfter && x.c.Request().Method == http.MethodGet && x.body.replayable() && fits(ctx, after) {
				discard(resp)
				waited = true
				if err := sleep(ctx, after); err != nil {
					return nil, p.sendError(x, err)
				}
				continue
			}
			code := graphErrorCode(resp)
			x.relayIDs(resp)
			if !known {
				after = defaultRetryAfter
			}
			after = max(after, time.Second)
			detail, answer := "is throttling this user or app", status
			switch status {
			case http.StatusInternalServerError, http.StatusBadGateway:
				detail, answer = "is unavailable", http.StatusServiceUnavailable // our 500 means a misconfiguration: keep them apart
			case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				detail = "is unavailable"
			}
			return nil, problem.New(problem.UpstreamUnavailable, "Microsoft Graph %s (%d %s); retry after %d s.", detail, status, code, entra.Seconds(after)).
				WithStatus(answer).WithRetryAfter(after).WithCause(fmt.Errorf("graph %s: %d %s", x.route, status, code))
		}
		return resp, nil
	}
}

// sendError maps a failed attempt to a problem.
func (p *Proxy) sendError(x *exchange, err error) error {
	if x.body.exceeded() || errors.Is(err, errBodyTooLarge) {
		return tooLarge()
	}
	e := problem.New(problem.UpstreamUnavailable, "Microsoft Graph cannot be reached right now.")
	if errors.Is(err, context.DeadlineExceeded) {
		e = problem.New(problem.UpstreamUnavailable, "Microsoft Graph did not answer within the request's time limit.")
	}
	return e.WithRetryAfter(defaultRetryAfter).WithCause(err)
}

// claimsChallenge finds a Bearer challenge with error="insufficient_claims"
// (continuous access evaluation, Conditional Access) and returns its claims,
// decoded from base64 to JSON ("" when they cannot be decoded).
func claimsChallenge(h http.Header) (string, bool) {
	for _, v := range h.Values("WWW-Authenticate") {
		params := bearerParams(v)
		if params["error"] != "insufficient_claims" {
			continue
		}
		claims, _ := entra.DecodeClaims(params["claims"])
		return claims, true
	}
	return "", false
}

// bearerParams parses the auth-params of a Bearer challenge (RFC 9110 section
// 11.6.1): comma-separated name=token or name="quoted string".
func bearerParams(v string) map[string]string {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	out := make(map[string]string)
	for {
		rest = strings.TrimLeft(rest, " \t,")
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return out
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		if strings.ContainsAny(name, " \t,\"") {
			return out // another challenge's scheme
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(rest, `"`) {
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				val.WriteByte(rest[i])
			}
			rest = rest[min(i+1, len(rest)):]
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			val.WriteString(rest[:end])
			rest = rest[end:]
		}
		out[name] = val.String()
	}
}

// graphErrorCode reads error.code from Graph's OData error body (bounded) and
// closes the body. The code is Graph's data; the message is left out of the
// problem, which the task pane shows.
func graphErrorCode(resp *http.Response) string {
	defer resp.Body.Close()
	var doc struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
	if json.Unmarshal(b, &doc) != nil || doc.Error.Code == "" {
		return http.StatusText(resp.StatusCode)
	}
	return doc.Error.Code
}

// discard drains a little of a body we will not relay, so the connection can be
// reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, errorBodyBytes)
	resp.Body.Close()
}

// fits reports whether waiting d leaves time for another attempt.
func fits(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d+time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
