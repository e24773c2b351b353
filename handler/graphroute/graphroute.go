// Package graphroute is the grammar of graph-proxy's allow-list, in one place:
// the GRAPH_ALLOWED_ROUTES entries config compiles at start (Parse), and the
// request paths and queries graph-proxy checks against them (Split, Query,
// Match). Both sides accept the same characters, so a route can never name a
// path no request could match, nor a request reach a path no route names.
package graphroute

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

const (
	// MaxPathBytes bounds a Graph path (the part after /api/graph), as sent.
	MaxPathBytes = 2 << 10
	// MaxQueryBytes bounds the query string, as sent; OData $filter and
	// $select clauses fit well within it.
	MaxQueryBytes = 4 << 10
	// maxIDBytes bounds one placeholder segment; Graph's IDs are far shorter.
	maxIDBytes = 512
)

// Methods are the methods a route may name.
var Methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// Route is one compiled allow-list entry, e.g. GET /v1.0/me/messages/{id}.
type Route struct {
	Method string
	Path   string // as configured
	segs   []segment
}

func (r Route) String() string { return r.Method + " " + r.Path }

// segment is a literal, matched exactly, or a {name} placeholder, matched by
// exactly one segment that is a plain Graph ID.
type segment struct {
	literal     string
	placeholder bool
}

// Parse compiles one "METHOD /path" entry. Path segments are literals of
// letters, digits and . _ - $ (never only dots), or {name} placeholders.
// Entries that would open more than they name are refused (see dangerous).
func Parse(entry string) (Route, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(entry), " ")
	path = strings.TrimSpace(path)
	bad := func(format string, args ...any) (Route, error) {
		return Route{}, fmt.Errorf("%q is not METHOD /path: %s", entry, fmt.Sprintf(format, args...))
	}
	if !ok || !slices.Contains(Methods, method) {
		return bad("the method must be one of %s", strings.Join(Methods, ", "))
	}
	rest, ok := strings.CutPrefix(path, "/")
	if !ok || rest == "" {
		return bad("the path must start with / and name a Graph resource, e.g. /v1.0/me")
	}
	r := Route{Method: method, Path: path}
	for _, s := range strings.Split(rest, "/") {
		switch {
		case isPlaceholder(s):
			r.segs = append(r.segs, segment{placeholder: true})
		case s == "":
			return bad("empty segment (// or a trailing /)")
		case strings.Trim(s, ".") == "":
			return bad("segment %q is only dots", s)
		case !isLiteral(s):
			return bad("segment %q is neither a {name} placeholder nor letters, digits and . _ - $", s)
		default:
			r.segs = append(r.segs, segment{literal: s})
		}
	}
	if reason := dangerous(r.segs); reason != "" {
		return Route{}, fmt.Errorf("%q is refused: %s", entry, reason)
	}
	return r, nil
}

// dangerous says why a well-formed route would let through more than it names.
func dangerous(segs []segment) string {
	for _, s := range segs {
		// Graph runs each request inside a JSON batch itself: the allow-list
		// would see one POST and Graph would serve whatever the body lists.
		if strings.EqualFold(s.literal, "$batch") {
			return "$batch would forward the requests inside the batch without checking them"
		}
	}
	// A placeholder where the resource type goes (/{x}/..., or /v1.0/{x}/...)
	// would accept any top-level collection: users, groups, sites, ...
	top := 0
	if IsVersion(segs[0].literal) && len(segs) > 1 {
		top = 1
	}
	if segs[0].placeholder || segs[top].placeholder {
		return "a placeholder cannot stand for the API version or the resource type; spell them out, e.g. /v1.0/me/messages/{id}"
	}
	return ""
}

// IsVersion reports whether a path segment is one of Graph's API versions.
func IsVersion(s string) bool { return strings.EqualFold(s, "v1.0") || strings.EqualFold(s, "beta") }

func isPlaceholder(s string) bool {
	name, ok := strings.CutPrefix(s, "{")
	name, ok2 := strings.CutSuffix(name, "}")
	if !ok || !ok2 || name == "" || !isLetter(name[0]) {
		return false
	}
	for i := range len(name) {
		if c := name[i]; !isLetter(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

func isLiteral(s string) bool {
	for i := range len(s) {
		if !pathByte(s[i]) {
			return false
		}
	}
	return true
}

// Match finds the first route for method whose segments match segs.
func Match(routes []Route, method string, segs []string) *Route {
	for i := range routes {
		r := &routes[i]
		if r.Method != method || len(r.segs) != len(segs) {
			continue
		}
		ok := true
		for j, s := range r.segs {
			if s.placeholder && !plainID(segs[j]) || !s.placeholder && s.literal != segs[j] {
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

// plainID accepts a plain Graph ID: letters, digits and - _ =. Dots are
// refused because Graph reads dotted segments as function calls and type casts
// (microsoft.graph.user), and a few words are Graph's own path keywords: a
// placeholder must never turn GET /users/{id} into a directory-wide listing
// such as /users/delta.
func plainID(s string) bool {
	if s == "" || len(s) > maxIDBytes || graphKeywords[strings.ToLower(s)] {
		return false
	}
	for i := range len(s) {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

// graphKeywords are path segments Graph interprets rather than looks up. A
// route that wants one spells it as a literal.
var graphKeywords = map[string]bool{"delta": true, "root": true, "me": true, "children": true, "content": true, "value": true, "count": true, "ref": true}

func idByte(c byte) bool { return isLetter(c) || isDigit(c) || c == '-' || c == '_' || c == '=' }

// pathByte is what a literal or a decoded request segment may hold.
func pathByte(c byte) bool { return idByte(c) || c == '.' || c == '$' }

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// Split checks a request path as the caller sent it (still percent-encoded,
// so no decoding trick hides a separator) and returns its decoded segments.
// Only characters a route could match pass: letters, digits and - _ = . $,
// and percent-escapes of letters, digits and - _ = $ (encodeURIComponent
// writes '=' as %3D). Everything else, including escapes of '/', '.', '\' and
// '%' itself (double encoding), control characters, empty segments and
// segments of dots only ('.', '..', '...': no route names one), is refused
// with the reason.
func Split(raw string) ([]string, error) {
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
		if strings.Trim(d, ".") == "" {
			return nil, errors.New("the path has a segment of dots only (. or ..)")
		}
		segs[i] = d
	}
	return segs, nil
}

func decodeSegment(s string) (string, error) {
	if !strings.Contains(s, "%") {
		for i := range len(s) {
			if !pathByte(s[i]) {
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
			d, ok := unescape(s[i:])
			if !ok {
				return "", errors.New("the path has a malformed percent-escape")
			}
			if !idByte(d) && d != '$' {
				return "", fmt.Errorf("the path has a percent-encoded %s", describe(d))
			}
			b.WriteByte(d)
			i += 2
		case pathByte(c):
			b.WriteByte(c)
		default:
			return "", fmt.Errorf("the path has %s", describe(c))
		}
	}
	return b.String(), nil
}

// Query bounds the query string and refuses control characters, raw or
// encoded; it is passed to Graph as sent, after the path, so it cannot change
// where the request goes.
func Query(q string) error {
	if len(q) > MaxQueryBytes {
		return fmt.Errorf("the query string is longer than %d bytes", MaxQueryBytes)
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '%':
			d, ok := unescape(q[i:])
			if !ok {
				return errors.New("the query string has a malformed percent-escape")
			}
			if d < 0x20 || d == 0x7f {
				return fmt.Errorf("the query string has a percent-encoded %s", describe(d))
			}
			i += 2
		case c <= 0x20 || c >= 0x7f || c == '#' || c == '\\':
			return fmt.Errorf("the query string has %s", describe(c))
		}
	}
	return nil
}

// unescape decodes the %XX at the start of s.
func unescape(s string) (byte, bool) {
	if len(s) < 3 || !isHex(s[1]) || !isHex(s[2]) {
		return 0, false
	}
	return unhex(s[1])<<4 | unhex(s[2]), true
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

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

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
