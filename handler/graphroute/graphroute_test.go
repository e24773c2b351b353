package graphroute

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRefuses(t *testing.T) {
	tests := []struct{ entry, want string }{
		{"HEAD /v1.0/me", "method"},
		{"TRACE /v1.0/me", "method"},
		{"/v1.0/me", "method"},
		{"GET v1.0/me", "must start with /"},
		{"GET /", "must start with /"},
		{"GET https://evil.example/x", "must start with /"},
		{"GET /v1.0//me", "empty segment"},
		{"GET /v1.0/me/", "empty segment"},
		{"GET /v1.0/../users", "only dots"},
		{"GET /v1.0/.../users", "only dots"},
		{"GET /v1.0/{}", "placeholder"},
		{"GET /v1.0/{id}x", "placeholder"},
		{"GET /v1.0/{1d}", "placeholder"},
		{"GET /v1.0/me%2fx", "placeholder"},
		{"GET /v1.0/users/{id|upn}", "placeholder"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.entry)
		if err == nil || !strings.Contains(err.Error(), "METHOD /path") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying METHOD /path and %q", tt.entry, err, tt.want)
		}
	}
}

// Routes that parse but would open more than they name: JSON batching, and a
// placeholder for the version or the resource type.
func TestParseRefusesDangerous(t *testing.T) {
	tests := []struct{ entry, want string }{
		{"POST /v1.0/$batch", "$batch"},
		{"POST /beta/$BATCH", "$batch"},
		{"POST /$Batch", "$batch"},
		{"POST /v1.0/me/$batch", "$batch"},
		{"GET /{version}/me", "placeholder"},
		{"GET /{x}", "placeholder"},
		{"GET /v1.0/{resource}", "placeholder"},
		{"GET /v1.0/{resource}/{id}", "placeholder"},
		{"GET /BETA/{resource}/{id}/messages", "placeholder"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.entry)
		if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying refused and %q", tt.entry, err, tt.want)
		}
	}
	for _, entry := range []string{
		"GET /v1.0/me", "GET /v1.0/users/{id}", "GET /beta/me/messages/{id}/attachments/{aid}",
		"GET /me/messages/{id}", "GET /v1.0", "GET /v1.0/me/photo/$value", "POST /v1.0/me/batchItems",
	} {
		if _, err := Parse(entry); err != nil {
			t.Errorf("%s: %v", entry, err)
		}
	}
}

func TestMatch(t *testing.T) {
	var routes []Route
	for _, e := range []string{"GET /v1.0/me", "GET /v1.0/me/messages/{id}", "POST /v1.0/me/messages/{id}/reply"} {
		r, err := Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, r)
	}
	tests := []struct {
		method, path string
		want         string // "" for no match
	}{
		{"GET", "v1.0/me", "GET /v1.0/me"},
		{"GET", "v1.0/me/messages/AAMk=", "GET /v1.0/me/messages/{id}"},
		{"POST", "v1.0/me/messages/AAMk/reply", "POST /v1.0/me/messages/{id}/reply"},
		{"POST", "v1.0/me", ""},
		{"GET", "v1.0/me/messages", ""},
		{"GET", "v1.0/me/messages/delta", ""},
		{"GET", "v1.0/me/messages/DELTA", ""},
		{"GET", "v1.0/me/messages/$count", ""},
		{"GET", "v1.0/me/messages/microsoft.graph.eventMessage", ""},
		{"GET", "v1.0/ME", ""},
	}
	for _, tt := range tests {
		got := Match(routes, tt.method, strings.Split(tt.path, "/"))
		if (got == nil) != (tt.want == "") || got != nil && got.String() != tt.want {
			t.Errorf("%s %s matched %v, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestSplitAccepts(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{"v1.0/me", []string{"v1.0", "me"}},
		{"v1.0/me/photo/$value", []string{"v1.0", "me", "photo", "$value"}},
		{"v1.0/me/photo/%24value", []string{"v1.0", "me", "photo", "$value"}},
		{"v1.0/me/messages/AAMkAGI2_x-y%3D", []string{"v1.0", "me", "messages", "AAMkAGI2_x-y="}},
		{"v1.0/me/messages/AAMk.AAA=", []string{"v1.0", "me", "messages", "AAMk.AAA="}},
	}
	for _, tt := range tests {
		got, err := Split(tt.raw)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
}
