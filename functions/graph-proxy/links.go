package graphproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"strings"
)

// Paging links. Graph's JSON answers carry @odata.nextLink and
// @odata.deltaLink as absolute Graph URLs. Followed as they are, with the
// add-in's token, they would go to Graph itself and fail (or, were Graph's
// answer ever wrong, carry the token elsewhere). So, in Graph's JSON answers
// only, the string values of exactly those two member names, at any depth,
// are rewritten to this Function's path, relative to the caller's origin
// (/api/graph/v1.0/...?...). A link that does not stay on GRAPH_BASE_URL is
// removed, member and all. Every other byte passes as Graph sent it: key
// order, whitespace, escapes, numbers.
//
// The rewriter is a small state machine over the bytes, not a parser: it
// tracks only what tells a member name from a value (strings with their
// escapes, the brackets, ':' and ','), so it accepts everything JSON.parse
// accepts and never holds more than one candidate member: bounded memory
// however long the page.

const (
	nextLinkName  = "@odata.nextLink"
	deltaLinkName = "@odata.deltaLink"

	// maxLinkBytes bounds a link's JSON string as Graph wrote it. A longer one
	// could not be followed through the proxy anyway (paths and queries are
	// bounded far below), so it is removed.
	maxLinkBytes = 16 << 10
	// maxHeldSpace bounds each run of whitespace held inside a candidate
	// member. Past it, whitespace before the member is passed on ahead of its
	// comma, and whitespace inside it is dropped: the same JSON, other bytes,
	// and only for input no JSON writer produces.
	maxHeldSpace = 4 << 10
	// maxKeyBytes bounds the raw bytes of a member name still compared with
	// the link names; escapes can spell each of their 16 characters in 6.
	maxKeyBytes = 6 * len(deltaLinkName)
	// maxJSONDepth bounds nesting, as encoding/json does.
	maxJSONDepth = 10000
)

// errTooDeep: the answer nests deeper than maxJSONDepth.
var errTooDeep = errors.New("JSON nested too deeply to rewrite its paging links")

// rewriteLinks rewrites the paging links in one JSON value held in memory,
// such as the body of one response inside a $batch answer: the string value
// of every @odata.nextLink and @odata.deltaLink member, at any depth, becomes
// this Function's path relative to the caller's origin
// (/api/graph/v1.0/...?...), and a link that does not stay on GRAPH_BASE_URL
// is removed, member and all. A relative link is resolved against
// GRAPH_BASE_URL. Every other byte is left as it is, and a body without such
// members comes back as the same slice; a rewritten one shares no memory with
// body. A value nesting deeper than encoding/json accepts (10,000 levels, so
// never one json.Unmarshal has read) comes back as JSON null: its links
// cannot be vouched for.
func (p *Proxy) rewriteLinks(body []byte) []byte {
	out, err := p.rewriteLinksFrom(p.base, body)
	if err != nil {
		return []byte("null")
	}
	return out
}

// rewriteLinksFrom is rewriteLinks resolving relative links against from (the
// URL of the Graph request that answered).
func (p *Proxy) rewriteLinksFrom(from *url.URL, body []byte) ([]byte, error) {
	if !mayHoldLinks(body) {
		return body, nil
	}
	s := p.newLinkScanner(from)
	out := s.feed(body, make([]byte, 0, len(body)+64))
	out = s.end(out)
	if s.err != nil {
		return nil, s.err
	}
	if s.changed == 0 {
		return body, nil
	}
	return out, nil
}

// mayHoldLinks is a fast test for the common body with no link member: the
// names contain "Link", unless a member name spells a letter as an escape.
func mayHoldLinks(b []byte) bool {
	return bytes.Contains(b, []byte("Link")) || bytes.IndexByte(b, '\\') >= 0
}

// jsonAnswer reports whether a Content-Type is JSON's (application/json, with any
// parameters, as Graph sends it: application/json;odata.metadata=minimal;...).
// Only such answers have their paging links rewritten.
func jsonAnswer(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// linkReader is Graph's body with its paging links rewritten, as it streams.
type linkReader struct {
	src  io.Reader
	s    *linkScanner
	in   []byte
	buf  []byte // rewritten bytes
	out  []byte // what of buf is left to read
	err  error  // once buf is drained
	done bool
}

func (p *Proxy) newLinkReader(from *url.URL, src io.Reader, in []byte) *linkReader {
	return &linkReader{src: src, s: p.newLinkScanner(from), in: in, buf: make([]byte, 0, len(in)+256)}
}

func (r *linkReader) Read(b []byte) (int, error) {
	for len(r.out) == 0 {
		if r.done {
			return 0, r.err
		}
		n, err := r.src.Read(r.in)
		r.buf = r.s.feed(r.in[:n], r.buf[:0])
		switch {
		case err == io.EOF:
			r.buf = r.s.end(r.buf)
			r.done, r.err = true, io.EOF
		case err != nil:
			r.done, r.err = true, err
		}
		if r.s.err != nil {
			// Nothing more: what was not rewritten must not pass.
			r.buf, r.done, r.err = r.buf[:0], true, r.s.err
		}
		r.out = r.buf
	}
	n := copy(b, r.out)
	r.out = r.out[n:]
	return n, nil
}

// The scanner's structural states, outside strings.
const (
	expectValue = iota // at the start, after ':' or '[' or ',' in an array
	expectKey          // after '{' or ',' in an object
	expectColon        // after a member name
	afterValue         // after a value
)

// The kinds of string being scanned.
const (
	notString = iota
	plainString
	keyString  // a member name, still compared with the link names
	linkString // the value of a link member, captured
)

// linkScanner rewrites paging links in JSON fed to it in pieces.
type linkScanner struct {
	rewrite func(link string) (string, bool)

	state   int
	str     int
	isKey   bool   // the string being scanned is a member name
	esc     bool   // the previous byte in the string was an unescaped '\'
	objects []bool // per open container: an object (else an array)

	// A candidate member is withheld from the output until its fate is known:
	// [the comma before it][whitespace]"name"[whitespace]:[whitespace].
	holding bool
	held    []byte
	comma   bool // held starts with the member's comma
	space   int  // length of the current whitespace run in held
	matched bool // the held name is a link name
	dropped bool // a member was removed with no comma before it: drop the comma after it

	// The member name, decoded as far as it could still be a link name.
	name   [16]byte
	nlen   int
	uhex   int  // hex digits of a \u escape still to come; -1: none
	ucode  rune // the \u escape's code point so far
	keyRaw int  // raw bytes of the name so far

	link    []byte // the link's JSON string, quotes included
	tooLong bool

	changed int // links rewritten or removed
	err     error
}

func (p *Proxy) newLinkScanner(from *url.URL) *linkScanner {
	return &linkScanner{
		rewrite: func(link string) (string, bool) { return p.location(from, link) },
		objects: make([]bool, 0, 16),
		uhex:    -1,
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// feed scans in and appends the output to out. Bytes of a candidate member
// stay in the scanner until its fate is known.
func (s *linkScanner) feed(in []byte, out []byte) []byte {
	if s.err != nil {
		return out
	}
	start := 0 // in[start:i] passes unchanged, unless withheld
	emit := func(i int) {
		if !s.holding {
			out = append(out, in[start:i]...)
		}
		start = i
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		if s.str != notString {
			switch s.str {
			case plainString:
				// Fast path: most of a page is inside strings.
				j := i
				for j < len(in) && in[j] != '"' && in[j] != '\\' {
					j++
				}
				if s.esc && j > i {
					s.esc = false // the escaped byte was in[i]
				}
				if j == len(in) {
					i = j - 1
					continue
				}
				if j > i {
					i = j
					c = in[i]
				}
				if s.esc {
					s.esc = false
					continue
				}
				if c == '\\' {
					s.esc = true
					continue
				}
				s.str = notString
				s.endString()
			case keyString:
				s.held = append(s.held, c)
				s.keyRaw++
				escaped := s.esc
				s.esc = !escaped && c == '\\'
				if !escaped && c == '"' {
					s.str = notString
					s.matched = s.nameIs(nextLinkName) || s.nameIs(deltaLinkName)
					start = i + 1
					s.space = 0
					if !s.matched {
						out = s.release(out)
					}
					s.endString()
					continue
				}
				if !s.keyByte(c, escaped) {
					// No link name: the rest of the name passes unchanged.
					out = s.release(out)
					start = i + 1
					s.str = plainString
				}
			case linkString:
				closing := !s.esc && c == '"'
				s.esc = !s.esc && c == '\\'
				if len(s.link) < maxLinkBytes {
					s.link = append(s.link, c)
				} else {
					s.tooLong = true
				}
				if closing {
					s.str = notString
					out = s.endLink(out)
					start = i + 1
					s.state = afterValue
				}
			}
			continue
		}

		switch {
		case isSpace(c):
			if s.holding {
				s.holdSpace(c, &out)
				start = i + 1
			}
			continue
		case c == '"':
			switch {
			case s.state == expectKey:
				emit(i)
				s.holding = true
				s.held = append(s.held, c)
				s.str, s.isKey = keyString, true
				s.nlen, s.uhex, s.keyRaw, s.esc, s.space = 0, -1, 1, false, 0
				start = i + 1
				continue
			case s.state == expectValue && s.matched:
				s.str, s.esc = linkString, false
				s.link = append(s.link[:0], c)
				s.tooLong = false
				start = i + 1
				continue
			}
			out = s.release(out)
			emit(i)
			s.str, s.isKey, s.esc = plainString, s.state == expectKey, false
			continue
		case c == ':' && s.matched && s.state == expectColon:
			s.held = append(s.held, c)
			s.space = 0
			s.state = expectValue
			start = i + 1
			continue
		case c == ',' && s.state == afterValue && s.inObject():
			if s.dropped {
				// The member before was removed and had no comma: this one goes.
				emit(i)
				s.dropped = false
				start = i + 1
				s.state = expectKey
				continue
			}
			emit(i)
			s.holding, s.comma, s.space = true, true, 0
			s.held = append(s.held[:0], c)
			start = i + 1
			s.state = expectKey
			continue
		}

		// Anything else ends a candidate member: it was not a link after all.
		if s.holding {
			out = s.release(out)
			start = i
		}
		s.dropped = false
		switch c {
		case '{', '[':
			if len(s.objects) >= maxJSONDepth {
				s.err = errTooDeep
				return out
			}
			s.objects = append(s.objects, c == '{')
			s.state = expectValue
			if c == '{' {
				s.state = expectKey
			}
		case '}', ']':
			if len(s.objects) > 0 {
				s.objects = s.objects[:len(s.objects)-1]
			}
			s.state = afterValue
		case ',':
			s.state = expectValue // in an array, or stray
		case ':':
			s.state = expectValue
		default:
			if s.state == expectValue {
				s.state = afterValue // a number, true, false or null
			}
		}
	}
	if !s.holding && s.str != linkString && s.str != keyString {
		out = append(out, in[start:]...)
	}
	return out
}

// end flushes what is still withheld at the end of the input: an incomplete
// document passes as it came.
func (s *linkScanner) end(out []byte) []byte {
	if s.err != nil {
		return out
	}
	if s.str == linkString {
		s.held = append(s.held, s.link...)
		s.link = s.link[:0]
	}
	return s.release(out)
}

func (s *linkScanner) inObject() bool {
	return len(s.objects) > 0 && s.objects[len(s.objects)-1]
}

// endString moves past a string that ended.
func (s *linkScanner) endString() {
	if s.isKey {
		s.state, s.isKey = expectColon, false
	} else {
		s.state = afterValue
	}
}

// release passes the withheld bytes on: the member was not a link.
func (s *linkScanner) release(out []byte) []byte {
	if s.holding {
		out = append(out, s.held...)
	}
	s.held, s.holding, s.comma, s.matched, s.space = s.held[:0], false, false, false, 0
	return out
}

// holdSpace withholds whitespace inside a candidate member, within bounds.
func (s *linkScanner) holdSpace(c byte, out *[]byte) {
	if s.space < maxHeldSpace {
		s.held = append(s.held, c)
		s.space++
		return
	}
	if s.comma && s.str == notString && s.state == expectKey && len(s.held) > 0 && s.held[0] == ',' {
		// Before the name: pass the whitespace on ahead of the comma, which
		// stays withheld on its own.
		*out = append(*out, s.held[1:]...)
		s.held = append(s.held[:1], c)
		s.space = 1
	}
	// Inside the member: whitespace past the bound is dropped.
}

// endLink rewrites or removes the captured link, with its withheld member.
func (s *linkScanner) endLink(out []byte) []byte {
	s.changed++
	var link string
	ok := !s.tooLong && json.Unmarshal(s.link, &link) == nil
	if ok {
		link, ok = s.rewrite(link)
	}
	if ok {
		out = append(out, s.held...)
		out = appendJSONString(out, link)
	} else if !s.comma {
		s.dropped = true // the comma after it, if any, goes instead
	}
	s.held, s.holding, s.comma, s.matched, s.space = s.held[:0], false, false, false, 0
	s.link = s.link[:0]
	return out
}

// keyByte decodes one more byte of a member name (after its opening quote;
// escaped: the byte before was an unescaped backslash) and reports whether the
// name can still be a link name.
func (s *linkScanner) keyByte(c byte, escaped bool) bool {
	if s.keyRaw > maxKeyBytes {
		return false
	}
	switch {
	case s.uhex >= 0:
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return false
		}
		s.ucode = s.ucode<<4 | rune(d)
		if s.uhex--; s.uhex > 0 {
			return true
		}
		s.uhex = -1
		if s.ucode >= 0x80 {
			return false
		}
		return s.nameByte(byte(s.ucode))
	case escaped:
		if c == 'u' {
			s.uhex, s.ucode = 4, 0
			return true
		}
		return false // \" \\ \/ \b \f \n \r \t: none is in a link name
	case c == '\\':
		return true
	}
	return s.nameByte(c)
}

func (s *linkScanner) nameByte(c byte) bool {
	if s.nlen == len(s.name) {
		return false
	}
	s.name[s.nlen] = c
	s.nlen++
	n := string(s.name[:s.nlen])
	return strings.HasPrefix(nextLinkName, n) || strings.HasPrefix(deltaLinkName, n)
}

func (s *linkScanner) nameIs(name string) bool {
	return s.uhex < 0 && string(s.name[:s.nlen]) == name
}

// appendJSONString appends s as a JSON string.
func appendJSONString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			out = append(out, c)
		}
	}
	return append(out, '"')
}
