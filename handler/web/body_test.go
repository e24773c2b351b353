package web

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/addinsso/addinsso/handler/problem"
)

func TestReadBody(t *testing.T) {
	if b, err := ReadBody(httptest.NewRequest("POST", "/", strings.NewReader("12345")), 5); err != nil || string(b) != "12345" {
		t.Errorf("at the bound: %q %v", b, err)
	}
	_, err := ReadBody(httptest.NewRequest("POST", "/", strings.NewReader("123456")), 5)
	var p *problem.Error
	if !errors.As(err, &p) || p.Code != problem.RequestTooLarge {
		t.Errorf("over the bound: %v", err)
	}
}

func TestDecodeJSON(t *testing.T) {
	type shape struct {
		Scopes []string `json:"scopes"`
	}
	for _, tt := range []struct {
		body   string
		strict bool
		want   string // "" for success, else a part of the detail
	}{
		{`{"scopes":["a"]}`, true, ""},
		{`{"scopes":["a"],"extra":1}`, false, ""},
		{`{"scopes":["a"],"extra":1}`, true, `unknown field "extra"`},
		{`{"scopes":"a"}`, true, "member scopes has the wrong type"},
		{`[1]`, true, "not a JSON object"},
		{`{"scopes":`, true, "malformed JSON"},
		{``, true, "the body is empty"},
		{`{} {}`, true, "more than one JSON value"},
		{`{"scopes":["secret-value"}`, true, "malformed JSON"},
	} {
		var v shape
		err := DecodeJSON([]byte(tt.body), &v, tt.strict, "the shape")
		var p *problem.Error
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.body, err)
		case tt.want != "" && (!errors.As(err, &p) || p.Code != problem.BadRequest || !strings.Contains(p.Detail, tt.want)):
			t.Errorf("%s: %v, want bad_request saying %q", tt.body, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "secret-value"):
			t.Errorf("%s: the detail echoes the body", tt.body)
		}
	}
}
