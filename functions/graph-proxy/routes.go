package graphproxy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/addinsso/addinsso/handler/config"
)

const (
	// MaxPathBytes bounds the Graph path (the part after /api/graph), as sent.
	MaxPathBytes = 2 << 10
	// MaxQueryBytes bounds the query string, as sent; OData $filter and
	// $select clauses fit well within it.
	MaxQueryBytes = 4 << 10
	// maxIDBytes bounds one placeholder segment; Graph's IDs are far shorter.
	maxIDBytes = 512
)

// route is one compiled GRAPH_ALLOWED_ROUTES entry.
type route struct {
	method string
	segs   []segment
	text   string // as configured, for logs and messages
}

// segment is a literal, matched exactly, or a {name} placeholder, matched by
// exactly one segment that is a plain Graph ID.
type segment struct {
	literal     string
	placeholder bool
}

var (
	literalPattern     = regexp.MustCompile(`^[A-Za-z0-9_.$\-]+$`)
	placeholderPattern = regexp.MustCompile(`^\{[A-Za-z][A-Za-z0-9_]*\}$`)
)

// compile checks each route as strictly as config does, so a Proxy built from
// a hand-made Config fails the same way, and refuses methods the Function's
// binding does not accept (they could never be reached).
func compile(routes []config.Route, methods []string) ([]route, error) {
	if len(routes) == 0 {
		return nil, errors.New("GRAPH_ALLOWED_ROUTES: no route listed")
	}
	out := make([]route, 0, len(routes))
	for _, r := range routes {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("GRAPH_ALLOWED_ROUTES: %q: %s", r.String(), fmt.Sprintf(format, args...))
		}
		if !slices.Contains(methods, r.Method) {
			return nil, bad("method %q is not one graph-proxy serves (%s)", r.Method, strings.Join(methods, ", "))
		}
		rest, ok := strings.CutPrefix(r.Path, "/")
		if !ok || rest == "" {
			return nil, bad("the path must start with / and name a Graph resource, e.g. /v1.0/me")
		}
		c := route{method: r.Method, text: r.String()}
		for _, s := range strings.Split(rest, "/") {
			switch {
			case placeholderPattern.MatchString(s):
				c.segs = append(c.segs, segment{placeholder: true})
			case s == "":
				return nil, bad("empty segment (// or a trailing /)")
			case !literalPattern.MatchString(s):
				return nil, bad("segment %q is neither a {name} placeholder nor letters, digits and ._-$", s)
			case strings.Trim(s, ".") == "":
				return nil, bad("segment %q is only dots", s)
			default:
				c.segs = append(c.segs, segment{literal: s})
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// match finds the first route for method whose segments match segs.
func match(routes []route, method string, segs []string) *route {
	for i := range routes {
		r := &routes[i]
		if r.method != method || len(r.segs) != len(segs) {
			continue
		}
		ok := true
		for j, s := range r.segs {
			if s.placeholder && !validID(segs[j]) || !s.placeholder && s.literal != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return r
		}
	}
	return nil
}

// validID accepts a plain Graph ID: letters, digits and - _ =. Dots are
// refused because Graph reads dotted segments as function calls and type casts
// (microsoft.graph.user), and a few words are Graph's own path keywords: a
// placeholder must never turn GET /users/{id} into a directory-wide listing
// such as /users/delta.
func validID(s string) bool {
	if s == "" || len(s) > maxIDBytes || graphKeywords[strings.ToLower(s)] {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

// graphKeywords are path segments Graph interprets rather than looks up. A
// route that wants one spells it as a literal.
var graphKeywords = map[string]bool{"delta": true, "root": true, "me": true, "children": true, "content": true, "value": true, "count": true, "ref": true}

func idByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '='
}

// splitPath checks the path as the caller sent it (still percent-encoded, so
// no decoding trick hides a separator) and returns its decoded segments. Only
// characters an allowed route could match pass: letters, digits and - _ = . $,
// and percent-escapes of letters, digits and - _ = $ (encodeURIComponent
// writes '=' as %3D). Everything else, including escapes of '/', '.', '\' and
// '%' itself (double encoding), control characters, empty, '.' and '..'
// segments, is refused with the reason.
func splitPath(raw string) ([]string, error) {
	switch {
	case raw == "":
		return nil, errors.New("no Graph path follows the Function's route")
	case len(raw) > MaxPathBytes:
		return nil, fmt.Errorf("the path is longer than %d bytes", MaxPathBytes)
	}
	segs := strings.Split(raw, "/")
	for i, s := range segs {
		if s == "" {
			return nil, errors.New("the path has an empty segment (// or a trailing /)")
		}
		d, err := decodeSegment(s)
		if err != nil {
			return nil, err
		}
		if d == "." || d == ".." {
			return nil, errors.New("the path has a . or .. segment")
		}
		segs[i] = d
	}
	return segs, nil
}

func decodeSegment(s string) (string, error) {
	if !strings.Contains(s, "%") {
		for i := 0; i < len(s); i++ {
			if !idByte(s[i]) && s[i] != '.' && s[i] != '$' {
				return "", fmt.Errorf("the path has %s", describe(s[i]))
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", errors.New("the path has a malformed percent-escape")
			}
			d := unhex(s[i+1])<<4 | unhex(s[i+2])
			if !idByte(d) && d != '$' {
				return "", fmt.Errorf("the path has a percent-encoded %s", describe(d))
			}
			b.WriteByte(d)
			i += 2
		case idByte(c) || c == '.' || c == '$':
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("the path has %s", describe(c))
		}
	}
	return b.String(), nil
}

// checkQuery bounds the query string and refuses control characters, raw or
// encoded; it is passed to Graph as sent, after the path, so it cannot change
// where the request goes.
func checkQuery(q string) error {
	if len(q) > MaxQueryBytes {
		return fmt.Errorf("the query string is longer than %d bytes", MaxQueryBytes)
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return errors.New("the query string has a malformed percent-escape")
			}
			if d := unhex(q[i+1])<<4 | unhex(q[i+2]); d < 0x20 || d == 0x7f {
				return fmt.Errorf("the query string has a percent-encoded %s", describe(d))
			}
			i += 2
		case c <= 0x20 || c >= 0x7f || c == '#' || c == '\\':
			return fmt.Errorf("the query string has %s", describe(c))
		}
	}
	return nil
}

func describe(c byte) string {
	switch {
	case c == '/':
		return "'/'"
	case c == '.':
		return "'.'"
	case c == '\\':
		return "a backslash"
	case c == '%':
		return "'%' (double encoding)"
	case c < 0x20 || c == 0x7f:
		return fmt.Sprintf("a control character (0x%02x)", c)
	case c >= 0x80:
		return "a non-ASCII byte"
	default:
		return fmt.Sprintf("%q, which no allowed route contains", c)
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
