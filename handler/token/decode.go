package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Member names in a JOSE header and a claims set are case-sensitive (RFC 7515
// §4, RFC 7519 §4), and a parser may refuse a repeated one (RFC 7515 §5.2).
// encoding/json does neither: it matches "OID" to oid and keeps the last of
// two "oid"s, so one token could name one user to us and another to any other
// parser that sees it. Here only exact names count, a repeated name is
// refused, and so are two names that differ only in case when we read one of
// them.

var errNotObject = errors.New("not a JSON object")

// maxMembers bounds the members of a header or claims set, and so the work an
// unsigned token can cause: Entra's access tokens carry a few dozen claims.
const maxMembers = 200

var errTooManyMembers = fmt.Errorf("more than %d members", maxMembers)

// duplicateError names a member that appears twice.
type duplicateError struct{ name string }

func (e *duplicateError) Error() string { return fmt.Sprintf("member %q appears twice", e.name) }

// members decodes one unpadded base64url segment holding a JSON object of at
// most maxMembers members and returns those named in read, by exact name. It
// refuses a name that appears twice, and a name equal to one in read but for
// case (Unicode simple folding, as encoding/json matches names).
func members(seg string, read []string) (map[string]json.RawMessage, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, errNotObject
	}
	if b = bytes.TrimLeft(b, " \t\r\n"); b[0] != '{' {
		return nil, errNotObject
	}
	got := make(map[string]json.RawMessage, len(read))
	hit := make([]bool, len(read))
	var all [][]byte
	err = eachMember(b, func(name, value []byte) error {
		if all = append(all, name); len(all) > maxMembers {
			return errTooManyMembers
		}
		// Each rune of a read name is ASCII, so a fold of it has as many runes.
		n := utf8.RuneCount(name)
		for i, r := range read {
			if len(r) != n || !strings.EqualFold(string(name), r) {
				continue
			}
			if hit[i] {
				return &duplicateError{r}
			}
			hit[i] = true
			if string(name) == r {
				got[r] = value
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, bytes.Compare)
	for i := 1; i < len(all); i++ {
		if bytes.Equal(all[i-1], all[i]) {
			return nil, &duplicateError{shorten(string(all[i]))}
		}
	}
	return got, nil
}

// eachMember calls f with each member of the JSON object b, in order: its
// name, unescaped as encoding/json unescapes it, and its value as written. b
// must be valid JSON and start with '{'.
func eachMember(b []byte, f func(name, value []byte) error) error {
	for i := 1; ; {
		i = skipSpace(b, i)
		if b[i] == '}' {
			return nil
		}
		end, plain := stringEnd(b, i)
		name := b[i+1 : end]
		if !plain {
			var s string
			if err := json.Unmarshal(b[i:end+1], &s); err != nil {
				return err
			}
			name = []byte(s)
		}
		i = skipSpace(b, skipSpace(b, end+1)+1) // past the colon
		vend := valueEnd(b, i)
		if err := f(name, b[i:vend]); err != nil {
			return err
		}
		if i = skipSpace(b, vend); b[i] == ',' {
			i++
		}
	}
}

// stringEnd is the index of the quote closing the string that starts at i;
// plain is false when the string holds escapes or non-ASCII bytes.
func stringEnd(b []byte, i int) (end int, plain bool) {
	plain = true
	for end = i + 1; b[end] != '"'; end++ {
		switch {
		case b[end] == '\\':
			end++
			plain = false
		case b[end] >= utf8.RuneSelf:
			plain = false
		}
	}
	return end, plain
}

// valueEnd is the index just past the JSON value that starts at i.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end + 1
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i, _ = stringEnd(b, i)
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(b[i])) { // a number, true, false or null
		i++
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// field is one member we read: its exact name and where its value goes.
type field[T any] struct {
	name string
	into func(*T) any
}

// decodeFields fills dst from the members fields name; absent members leave
// their field as it is.
func decodeFields[T any](m map[string]json.RawMessage, fields []field[T], dst *T) error {
	for _, f := range fields {
		if raw, ok := m[f.name]; ok {
			if err := json.Unmarshal(raw, f.into(dst)); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
		}
	}
	return nil
}

func names[T any](fields []field[T]) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.name
	}
	return out
}

// shorten keeps a name from the token short enough to quote in a detail.
func shorten(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
