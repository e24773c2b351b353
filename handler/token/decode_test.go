package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

var testRead = []string{"oid", "scp", "kid", "aud", "exp"}

func TestMembers(t *testing.T) {
	for _, tt := range []struct {
		json string
		want map[string]string // nil: refused
	}{
		{`{}`, map[string]string{}},
		{` { "oid" : "a" , "x" : {"oid":"nested","k":[1,{"oid":2}]} , "scp":"s p" } `, map[string]string{"oid": `"a"`, "scp": `"s p"`}},
		{`{"x":"a \"quoted\" }, {\"oid\":1","oid":1.5e3,"aud":["a","b"],"exp":null,"kid":true}`,
			map[string]string{"oid": "1.5e3", "aud": `["a","b"]`, "exp": "null", "kid": "true"}},
		{`{"\u006fid":"escaped name"}`, map[string]string{"oid": `"escaped name"`}},
		{`{"OID":"a case variant alone is not oid"}`, map[string]string{}},
		{`{"oid":"a","oid":"b"}`, nil},
		{`{"oid":"a","OID":"b"}`, nil},
		{`{"oid":"a","\u006fid":"b"}`, nil},
		{`{"kid":"a","\u212aid":"b"}`, nil}, // Kelvin sign folds to k
		{`{"scp":"a","ſcp":"b"}`, nil},      // long s folds to s
		{`{"x":1,"x":2}`, nil},
		{`{"oid":"a"} {}`, nil},
		{`[{"oid":"a"}]`, nil},
		{`null`, nil},
		{`{"oid":}`, nil},
	} {
		got, err := members(base64.RawURLEncoding.EncodeToString([]byte(tt.json)), testRead)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%s: accepted as %q", tt.json, got)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.json, got, err, tt.want)
			continue
		}
		for name, v := range tt.want {
			if string(got[name]) != v {
				t.Errorf("%s: %s = %s, want %s", tt.json, name, got[name], v)
			}
		}
	}
}

// FuzzMembers holds members to encoding/json: the same values by exact name,
// and a refusal exactly when the text is not an object or repeats a name (a
// read name also in another case), as encoding/json's own tokenizer sees it.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"oid":"a","x":[{"y":"}"}]}`, `{"oid":"a","OID":"b"}`, `{"\u006fid":1,"oid":2}`, `{"ſcp":1}`, ` {"a" : 1 } `, `{"a":1}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := members(base64.RawURLEncoding.EncodeToString(data), testRead)
		names, refErr := tokenizedNames(data)
		switch {
		case refErr != nil || len(names) > maxMembers:
			if err == nil {
				t.Fatalf("accepted %q", data)
			}
			return
		case repeats(names):
			if _, ok := errors.AsType[*duplicateError](err); !ok {
				t.Fatalf("%q: %v, want a repeat refused", data, err)
			}
			return
		case err != nil:
			t.Fatalf("refused %q: %v", data, err)
		}
		var ref map[string]json.RawMessage
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatal(err)
		}
		for _, r := range testRead {
			want, ok := ref[r]
			if v, have := got[r]; have != ok || !bytes.Equal(v, want) {
				t.Fatalf("%q: %s = %q (%v), encoding/json says %q (%v)", data, r, v, have, want, ok)
			}
		}
	})
}

// tokenizedNames lists an object's member names with encoding/json's tokenizer.
func tokenizedNames(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errNotObject
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		names = append(names, t.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotObject
	}
	return names, nil
}

func repeats(names []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		key := n
		for _, r := range testRead {
			if strings.EqualFold(n, r) {
				key = r
			}
		}
		if seen[key] {
			return true
		}
		seen[key] = true
	}
	return false
}
