// Package latestmail is the latest-mail Function: the subjects of the
// signed-in user's five latest messages, read from Microsoft Graph on the
// server, so the Graph token never reaches the task pane.
package latestmail

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/problem"
)

//go:embed function.json
var functionJSON []byte

// New returns the Function; main lists it beside the others.
func New(s function.Services) (function.Function, error) {
	return function.Function{Name: "latest-mail", JSON: functionJSON, Handler: func(c echo.Context) error {
		r := c.Request()
		id, assertion, err := s.Authenticate(r) // the add-in's token, verified
		if err != nil {
			return err // already a problem the task pane acts on
		}
		caller := graphtoken.Request{Identity: id, Assertion: assertion, Scopes: []string{"Mail.Read"}}
		subjects, err := latestSubjects(r.Context(), s, caller)
		if err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, map[string][]string{"subjects": subjects})
	}}, nil
}

// latestSubjects calls Graph with the caller's Graph token. A token Graph
// refuses (revoked since it was cached) is replaced once.
func latestSubjects(ctx context.Context, s function.Services, caller graphtoken.Request) ([]string, error) {
	url := s.Config.GraphBase.String() + "/v1.0/me/messages?$top=5&$select=subject"
	for attempt := 0; ; attempt++ {
		grant, err := s.Tokens.Get(ctx, caller) // cache, else On-Behalf-Of
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+grant.AccessToken)
		resp, err := s.HTTPClient.Do(req)
		if err != nil {
			return nil, problem.New(problem.UpstreamUnavailable, "Microsoft Graph cannot be reached right now.").WithCause(err)
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			caller.Refused = true // the next Get exchanges anew and replaces the cached token
			continue
		case resp.StatusCode != http.StatusOK:
			after, _ := entra.RetryAfter(resp.Header, time.Now())
			return nil, problem.New(problem.UpstreamUnavailable, "Microsoft Graph answered %d.", resp.StatusCode).
				WithRetryAfter(after).WithCause(fmt.Errorf("graph: %s", resp.Status))
		}
		var page struct {
			Value []struct {
				Subject string `json:"subject"`
			} `json:"value"`
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&page); err != nil {
			return nil, problem.New(problem.UpstreamUnavailable, "Microsoft Graph's answer could not be read.").WithCause(err)
		}
		subjects := make([]string, 0, len(page.Value))
		for _, m := range page.Value {
			subjects = append(subjects, m.Subject)
		}
		return subjects, nil
	}
}
