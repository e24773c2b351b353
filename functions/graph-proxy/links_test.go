package graphproxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/addinsso/addinsso/dev/graph"
)

// linkProxy is just enough of a Proxy to rewrite links: Graph's public base.
func linkProxy(t testing.TB, base string) *Proxy {
	return &Proxy{base: mustURL(t, base), prefix: "/api/graph/"}
}

// TestRewriteLinks: the values of @odata.nextLink and @odata.deltaLink, and
// only those, become this Function's path; links leaving Graph go, member and
// all; every other byte stays as Graph sent it.
func TestRewriteLinks(t *testing.T) {
	p := linkProxy(t, "https://graph.microsoft.com")
	long := "https://graph.microsoft.com/v1.0/me/messages?$skiptoken=" + strings.Repeat("a", maxLinkBytes)
	tests := []struct{ name, in, want string }{
		{"nextLink",
			`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('x')/messages","value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/messages?$top=3&$skip=3"}`,
			`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('x')/messages","value":[],"@odata.nextLink":"/api/graph/v1.0/me/messages?$top=3&$skip=3"}`},
		{"deltaLink",
			`{"value":[{"id":"1"}],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=LztZwWjo5IivWBhyxw5rA"}`,
			`{"value":[{"id":"1"}],"@odata.deltaLink":"/api/graph/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=LztZwWjo5IivWBhyxw5rA"}`},
		{"nested in objects and arrays",
			`[{"a":{"b":[1,{"@odata.nextLink":"https://graph.microsoft.com/beta/me/events?$skip=1"}],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/x"}},"@odata.nextLink"]`,
			`[{"a":{"b":[1,{"@odata.nextLink":"/api/graph/beta/me/events?$skip=1"}],"@odata.deltaLink":"/api/graph/v1.0/x"}},"@odata.nextLink"]`},
		{"escaped slashes and a query that needs its escapes",
			`{"@odata.nextLink":"https:\/\/graph.microsoft.com\/v1.0\/me\/messages?%24skiptoken=a%2Bb%3D&$filter=subject%20eq%20%27x%27"}`,
			`{"@odata.nextLink":"/api/graph/v1.0/me/messages?%24skiptoken=a%2Bb%3D&$filter=subject%20eq%20%27x%27"}`},
		{"a member name spelled with escapes",
			`{"@odata.next\u004cink":"https://graph.microsoft.com/v1.0/a","\u0040odata.deltaLink":"https://graph.microsoft.com/v1.0/b"}`,
			`{"@odata.next\u004cink":"/api/graph/v1.0/a","\u0040odata.deltaLink":"/api/graph/v1.0/b"}`},
		{"whitespace and order as sent",
			"{\n  \"value\" : [ ],\n  \"@odata.nextLink\" :\t\"https://graph.microsoft.com/v1.0/me/messages?$skip=10\" ,\n  \"z\": 1e3\n}\n",
			"{\n  \"value\" : [ ],\n  \"@odata.nextLink\" :\t\"/api/graph/v1.0/me/messages?$skip=10\" ,\n  \"z\": 1e3\n}\n"},
		{"a relative link stays on Graph",
			`{"@odata.nextLink":"/v1.0/me/messages?$skip=2"}`,
			`{"@odata.nextLink":"/api/graph/v1.0/me/messages?$skip=2"}`},
		{"a host's case does not matter",
			`{"@odata.nextLink":"https://Graph.Microsoft.com/v1.0/me"}`,
			`{"@odata.nextLink":"/api/graph/v1.0/me"}`},

		{"a foreign link alone is removed",
			`{"@odata.nextLink":"https://evil.example/v1.0/me/messages?$skip=3"}`,
			`{}`},
		{"a foreign link first is removed with the comma after it",
			`{"@odata.nextLink":"https://evil.example/x", "value":[]}`,
			`{ "value":[]}`},
		{"a foreign link in the middle is removed with the comma before it",
			`{"a":1 , "@odata.nextLink" : "https://evil.example/x" , "b":2}`,
			`{"a":1  , "b":2}`},
		{"a foreign link last is removed with the comma before it",
			"{\"value\":[],\n \"@odata.deltaLink\":\"https://graph.microsoft.com.evil.example/v1.0/x\"\n}",
			"{\"value\":[]\n}"},
		{"two removed in a row, and one kept",
			`{"@odata.nextLink":"https://evil.example/1","@odata.deltaLink":"http://graph.microsoft.com/v1.0/2","@odata.nextLink":"https://graph.microsoft.com/v1.0/3"}`,
			`{"@odata.nextLink":"/api/graph/v1.0/3"}`},
		{"plain http is removed",
			`{"x":[{"@odata.nextLink":"http://graph.microsoft.com/v1.0/me"}]}`,
			`{"x":[{}]}`},
		{"another port is removed",
			`{"@odata.nextLink":"https://graph.microsoft.com:8443/v1.0/me"}`, `{}`},
		{"a user name is removed",
			`{"@odata.nextLink":"https://user@graph.microsoft.com/v1.0/me"}`, `{}`},
		{"Graph's root itself is removed",
			`{"@odata.nextLink":"https://graph.microsoft.com/"}`, `{}`},
		{"a link too long to follow is removed",
			`{"a":1,"@odata.nextLink":"` + long + `"}`, `{"a":1}`},
		{"a link that is not a valid JSON string is removed",
			`{"@odata.nextLink":"https://graph.microsoft.com/v1.0/me\x"}`, `{}`},
		{"a javascript: link is removed",
			`{"@odata.nextLink":"javascript:alert(1)"}`, `{}`},

		{"a null link stays", `{"@odata.nextLink":null,"a":"b"}`, `{"@odata.nextLink":null,"a":"b"}`},
		{"a link member holding an object is walked into",
			`{"@odata.nextLink":{"@odata.nextLink":"https://graph.microsoft.com/v1.0/a"}}`,
			`{"@odata.nextLink":{"@odata.nextLink":"/api/graph/v1.0/a"}}`},
		{"other members keep their URLs",
			`{"webLink":"https://outlook.office365.com/owa/?ItemID=x","@odata.nextLinks":"https://evil.example","@odata.nextlink":"https://evil.example","x":"@odata.nextLink","@odata.id":"https://graph.microsoft.com/v2/x"}`,
			`{"webLink":"https://outlook.office365.com/owa/?ItemID=x","@odata.nextLinks":"https://evil.example","@odata.nextlink":"https://evil.example","x":"@odata.nextLink","@odata.id":"https://graph.microsoft.com/v2/x"}`},
		{"strings with quotes and escapes around it",
			`{"s":"a \"@odata.nextLink\": \"https://evil.example\" \\","@odata.nextLink":"https://graph.microsoft.com/v1.0/q?x=\"y\""}`,
			`{"s":"a \"@odata.nextLink\": \"https://evil.example\" \\","@odata.nextLink":"/api/graph/v1.0/q?x=\"y\""}`},
		{"not JSON passes", `@odata.nextLink: https://graph.microsoft.com/v1.0/me`, `@odata.nextLink: https://graph.microsoft.com/v1.0/me`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.rewriteLinks([]byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			if json.Valid([]byte(tt.in)) && !json.Valid(got) {
				t.Errorf("invalid JSON out: %s", got)
			}
			// Streamed in pieces of every small size, the answer is the same.
			for _, size := range []int{1, 2, 3, 5, 7, 64, 4096} {
				if s := streamLinks(t, p, []byte(tt.in), size); s != string(got) {
					t.Errorf("streamed %d bytes at a time:\n got %s\nwant %s", size, s, got)
				}
			}
		})
	}
}

// streamLinks runs in through a linkReader fed size bytes at a time.
func streamLinks(t testing.TB, p *Proxy, in []byte, size int) string {
	t.Helper()
	r := p.newLinkReader(p.base, &chunked{b: in, size: size}, make([]byte, size))
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("streamed %d at a time: %v", size, err)
	}
	return string(out)
}

// chunked reads b at most size bytes at a time.
type chunked struct {
	b    []byte
	size int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.b)
	c.b = c.b[n:]
	return n, nil
}

func TestRewriteLinksUnderABasePath(t *testing.T) {
	p := linkProxy(t, "https://graph.example/base")
	in := `{"@odata.nextLink":"https://graph.example/base/v1.0/me?$skip=1","@odata.deltaLink":"https://graph.example/other/v1.0/me","z":0}`
	if got, want := string(p.rewriteLinks([]byte(in))), `{"@odata.nextLink":"/api/graph/v1.0/me?$skip=1","z":0}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRewriteLinksSameSliceWhenUnchanged(t *testing.T) {
	p := linkProxy(t, "https://graph.microsoft.com")
	for _, in := range []string{`{"id":"1","displayName":"A"}`, `{"webLink":"x","s":"\n"}`, ""} {
		b := []byte(in)
		if got := p.rewriteLinks(b); len(b) > 0 && &got[0] != &b[0] {
			t.Errorf("%s: a copy came back", in)
		}
	}
}

func TestRewriteLinksTooDeep(t *testing.T) {
	p := linkProxy(t, "https://graph.microsoft.com")
	deep := strings.Repeat("[", maxJSONDepth+1) + `{"@odata.nextLink":"https://evil.example"}` + strings.Repeat("]", maxJSONDepth+1)
	if got := p.rewriteLinks([]byte(deep)); string(got) != "null" {
		t.Errorf("got %.40s..., want null", got)
	}
	if _, err := io.ReadAll(p.newLinkReader(p.base, strings.NewReader(deep), make([]byte, 512))); !errors.Is(err, errTooDeep) {
		t.Errorf("streamed: %v, want errTooDeep", err)
	}
	ok := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	if got := p.rewriteLinks([]byte(ok)); string(got) != ok {
		t.Error("nesting as deep as encoding/json accepts is refused")
	}
}

// TestRewriteLinksHugeWhitespace: past maxHeldSpace, whitespace around a
// candidate member moves or goes, but the JSON stays the same.
func TestRewriteLinksHugeWhitespace(t *testing.T) {
	p := linkProxy(t, "https://graph.microsoft.com")
	ws := strings.Repeat(" \n", maxHeldSpace)
	for _, in := range []string{
		`{"a":1,` + ws + `"b":2}`,
		`{"a":1,` + ws + `"@odata.nextLink"` + ws + ":" + ws + `"https://evil.example"` + ws + `}`,
		`{"a":1,` + ws + `"@odata.nextLink"` + ws + ":" + ws + `"https://graph.microsoft.com/v1.0/me"}`,
	} {
		got := p.rewriteLinks([]byte(in))
		if !json.Valid(got) || len(got) > len(in) {
			t.Fatalf("invalid or grown: %q", got)
		}
		checkSameJSON(t, p, []byte(in), got)
	}
}

// largePage writes a list page of n messages of Graph's shape, then its
// nextLink, as Graph streams one.
func largePage(w io.Writer, n int, next string) {
	fmt.Fprint(w, `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users('u')/messages","value":[`)
	for i := range n {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, `{"@odata.etag":"W/\"CQAAABYAAAA%06d\"","id":"AAMkA%08d=","subject":"Message %d: \"quoted\" \\ and \u00e9","webLink":"https://outlook.office365.com/owa/?ItemID=AAMkA%08d%%3D&exvsurl=1","body":{"contentType":"html","content":"<p>%s</p>"}}`,
			i, i, i, i, strings.Repeat("lorem ipsum ", 40))
	}
	fmt.Fprintf(w, `],"@odata.nextLink":%q}`, next)
}

// TestLargePageBoundedMemory: a 16 MiB page streams through the rewriter
// with its link rewritten, every other byte as sent, and what the rewriter
// allocates stays far below the page's size.
func TestLargePageBoundedMemory(t *testing.T) {
	p := linkProxy(t, "https://graph.microsoft.com")
	var page bytes.Buffer
	largePage(&page, 25000, "https://graph.microsoft.com/v1.0/me/messages?$skiptoken=abc")
	if page.Len() < 16<<20 {
		t.Fatalf("page of %d bytes", page.Len())
	}
	want := bytes.Replace(page.Bytes(), []byte(`"https://graph.microsoft.com/v1.0/me/messages?$skiptoken=abc"`), []byte(`"/api/graph/v1.0/me/messages?$skiptoken=abc"`), 1)
	src := bytes.NewReader(page.Bytes())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := p.newLinkReader(p.base, src, make([]byte, 32<<10))
	got := sha256.New()
	n, err := io.CopyBuffer(got, struct{ io.Reader }{r}, make([]byte, 32<<10))
	runtime.ReadMemStats(&after)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if sum := sha256.Sum256(want); !bytes.Equal(got.Sum(nil), sum[:]) {
		t.Fatal("the page changed beyond its link")
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	if allocated > 1<<20 {
		t.Errorf("the rewriter allocated %d KiB for a %d MiB page", allocated>>10, page.Len()>>20)
	}
	t.Logf("%d MiB page: %d KiB allocated", page.Len()>>20, allocated>>10)
}

func BenchmarkRewriteLinks(b *testing.B) {
	p := linkProxy(b, "https://graph.microsoft.com")
	var page bytes.Buffer
	largePage(&page, 500, "https://graph.microsoft.com/v1.0/me/messages?$skiptoken=abc")
	b.SetBytes(int64(page.Len()))
	buf := make([]byte, 32<<10)
	for b.Loop() {
		r := p.newLinkReader(p.base, bytes.NewReader(page.Bytes()), buf)
		if _, err := io.Copy(io.Discard, struct{ io.Reader }{r}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRewriteLinks: any JSON in is the same JSON out, token for token in the
// same order, except the link members: each becomes this Function's path or
// is gone, as its URL stays on Graph or not. Without link members the bytes
// are the same, and streamed in any pieces the answer is the same.
func FuzzRewriteLinks(f *testing.F) {
	for _, s := range []string{
		`{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/messages?$skip=3"}`,
		`{"@odata.deltaLink":"https://evil.example/x","a":[1,2,{"@odata.nextLink":"https:\/\/graph.microsoft.com\/beta\/x"}]}`,
		`{"a":1 , "@odata.next\u004cink" : "http://graph.microsoft.com/v1.0/x" }`,
		`[{"@odata.nextLink":null},"@odata.nextLink",{"\u0040odata.deltaLink":"/v1.0/me"}]`,
		`{"s":"\"\\\u00e9","@odata.nextLink":{"@odata.nextLink":"https://graph.microsoft.com/v1.0/y"}}`,
		"\ufeff{}", `"@odata.nextLink"`, `1e5`, `{"@odata.nextLink":"x","@odata.nextLink":"https://graph.microsoft.com/v1.0/z"}`,
	} {
		f.Add([]byte(s), uint8(3))
	}
	p := linkProxy(f, "https://graph.microsoft.com")
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		out, err := p.rewriteLinksFrom(p.base, in)
		streamed, serr := io.ReadAll(p.newLinkReader(p.base, &chunked{b: in, size: int(chunk) + 1}, make([]byte, int(chunk)+1)))
		if err != nil || serr != nil {
			if !errors.Is(err, errTooDeep) || !errors.Is(serr, errTooDeep) {
				t.Fatalf("in memory: %v; streamed: %v", err, serr)
			}
			return
		}
		if string(streamed) != string(out) {
			t.Fatalf("streamed in %d-byte pieces:\n%q\nin memory:\n%q", int(chunk)+1, streamed, out)
		}
		if !json.Valid(in) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out of %q: %q", in, out)
		}
		checkSameJSON(t, p, in, out)
	})
}

// checkSameJSON checks out against in token by token, the link members
// rewritten or gone, and byte for byte when there are none (unless runs of
// whitespace too long to hold moved).
func checkSameJSON(t *testing.T, p *Proxy, in, out []byte) {
	t.Helper()
	want, links := expectedTokens(t, p, in)
	got, _ := expectedTokens(t, nil, out)
	if len(got) != len(want) {
		t.Fatalf("%d tokens out, want %d:\n in %q\nout %q", len(got), len(want), in, out)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("token %d is %#v, want %#v:\n in %q\nout %q", i, got[i], want[i], in, out)
		}
	}
	if links == 0 && len(in) <= maxHeldSpace && !bytes.Equal(in, out) {
		t.Fatalf("no link member, yet the bytes changed:\n in %q\nout %q", in, out)
	}
}

type key string // a member name among the tokens

// expectedTokens is the token stream of a JSON text, member names marked; with
// p, the link members are rewritten or dropped as the rewriter should.
func expectedTokens(t *testing.T, p *Proxy, b []byte) ([]any, int) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var toks []any
	var objects []bool
	expectKey := false
	links := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return toks, links
		}
		if err != nil {
			t.Fatalf("%v in %q", err, b)
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				objects = append(objects, v == '{')
				expectKey = v == '{'
			default:
				objects = objects[:len(objects)-1]
				expectKey = len(objects) > 0 && objects[len(objects)-1]
			}
			toks = append(toks, v)
			continue
		case string:
			if expectKey {
				toks = append(toks, key(v))
				expectKey = false
				if p == nil || (v != nextLinkName && v != deltaLinkName) || !d.More() {
					continue
				}
				// A link member: read its value to decide.
				var raw json.RawMessage
				if err := d.Decode(&raw); err != nil {
					t.Fatalf("%v in %q", err, b)
				}
				var link string
				if raw[0] != '"' || json.Unmarshal(raw, &link) != nil {
					sub, n := expectedTokens(t, p, raw)
					toks = append(toks, sub...)
					links += n
				} else {
					links++
					if rewritten, ok := p.location(p.base, link); ok && len(raw) <= maxLinkBytes {
						toks = append(toks, rewritten)
					} else {
						toks = toks[:len(toks)-1] // the member goes
					}
				}
				expectKey = len(objects) > 0 && objects[len(objects)-1]
				continue
			}
		}
		toks = append(toks, tok)
		expectKey = len(objects) > 0 && objects[len(objects)-1]
	}
}

// linkGraph serves scripted answers as Graph over TLS the emulators' CA
// signs, for answers the emulator does not give (large or foreign pages).
type linkGraph struct {
	*httptest.Server
	mu     sync.Mutex
	answer func(w http.ResponseWriter, r *http.Request)
}

func startLinkGraph(t *testing.T) *linkGraph {
	t.Helper()
	f := &linkGraph{}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		answer := f.answer
		f.mu.Unlock()
		w.Header().Set("request-id", "fake-request-id")
		answer(w, r)
	}))
	tlsConfig, err := idp.CA.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	f.TLS = tlsConfig
	f.StartTLS()
	t.Cleanup(f.Close)
	return f
}

func (f *linkGraph) serve(answer func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	f.answer = answer
	f.mu.Unlock()
}

const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// TestPagingThroughTheProxy: the emulator's pages come back with their
// nextLink on this Function's path, with an exact Content-Length, and
// following the links through the proxy reads the whole mailbox.
func TestPagingThroughTheProxy(t *testing.T) {
	h := newHarness(t)
	u := newUser("Pat Pages")
	tok := addinToken(u)
	var ids []string
	next := "/api/graph/v1.0/me/messages?$top=3"
	for pages := 0; next != ""; pages++ {
		if pages > graph.MessagesPerUser {
			t.Fatal("the pages never end")
		}
		resp := h.do(t, "GET", next, tok, nil, nil)
		b := readAll(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Fatalf("%s: %d, Content-Length %q for %d bytes: %s", next, resp.StatusCode, resp.Header.Get("Content-Length"), len(b), b)
		}
		var page struct {
			Context  string `json:"@odata.context"`
			NextLink string `json:"@odata.nextLink"`
			Value    []struct{ ID string }
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		if page.NextLink != "" && !strings.HasPrefix(page.NextLink, "/api/graph/v1.0/me/messages?") {
			t.Fatalf("nextLink %q is not on the proxy", page.NextLink)
		}
		if !strings.HasPrefix(page.Context, graphEmu.URL) {
			t.Errorf("@odata.context %q was changed", page.Context)
		}
		for _, m := range page.Value {
			ids = append(ids, m.ID)
		}
		next = page.NextLink
	}
	if len(ids) != graph.MessagesPerUser {
		t.Errorf("%d messages across the pages, want %d", len(ids), graph.MessagesPerUser)
	}
}

// TestLinksInGraphAnswers: through the proxy, against answers the emulator
// does not give.
func TestLinksInGraphAnswers(t *testing.T) {
	fake := startLinkGraph(t)
	h := newHarness(t, func(s *setup) { s.graphURL = fake.URL })
	tok := addinToken(newUser("Quinn Links"))

	t.Run("a large page streams, without Content-Length, its link rewritten", func(t *testing.T) {
		var page bytes.Buffer
		largePage(&page, 2000, fake.URL+"/v1.0/me/messages?$skiptoken=X%2BY")
		for _, withLength := range []bool{true, false} {
			fake.serve(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", odataJSON)
				if withLength {
					w.Header().Set("Content-Length", strconv.Itoa(page.Len()))
				}
				_, _ = w.Write(page.Bytes())
			})
			resp := h.do(t, "GET", "/api/graph/v1.0/me/messages", tok, nil, nil)
			b := readAll(t, resp)
			want := bytes.Replace(page.Bytes(), []byte(fake.URL+"/v1.0/"), []byte("/api/graph/v1.0/"), 1)
			if resp.StatusCode != 200 || !bytes.Equal(b, want) {
				t.Fatalf("Content-Length sent %v: %d, %d bytes, want %d", withLength, resp.StatusCode, len(b), len(want))
			}
			if resp.ContentLength != -1 || resp.Header.Get("Content-Type") != odataJSON {
				t.Errorf("Content-Length %d, Content-Type %q", resp.ContentLength, resp.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("a foreign nextLink is removed", func(t *testing.T) {
		fake.serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", odataJSON)
			_, _ = io.WriteString(w, `{"value":[{"id":"1"}],"@odata.nextLink":"https://evil.example/v1.0/me/messages?$skip=1"}`)
		})
		resp := h.do(t, "GET", "/api/graph/v1.0/me/messages", tok, nil, nil)
		if b := readAll(t, resp); string(b) != `{"value":[{"id":"1"}]}` || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Errorf("%s, Content-Length %q", b, resp.Header.Get("Content-Length"))
		}
	})

	// Bytes that are not Graph's JSON answer pass exactly as sent.
	body := `{"@odata.nextLink":"` + fake.URL + `/v1.0/me/messages?$skip=1","x":"https://evil.example"}`
	for _, tt := range []struct{ name, path, contentType string }{
		{"text", "/api/graph/v1.0/me/messages", "text/plain; charset=utf-8"},
		{"JSON of another type", "/api/graph/v1.0/me/messages", "application/problem+json"},
		{"no type", "/api/graph/v1.0/me/messages", ""},
		{"a file that is JSON", "/api/graph/v1.0/me/drive/items/01ABC/content", "application/json"},
		{"a photo", "/api/graph/v1.0/me/photo/$value", "application/json"},
	} {
		t.Run(tt.name+" passes unchanged", func(t *testing.T) {
			fake.serve(func(w http.ResponseWriter, r *http.Request) {
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				} else {
					w.Header()["Content-Type"] = nil
				}
				_, _ = io.WriteString(w, body)
			})
			resp := h.do(t, "GET", tt.path, tok, nil, nil)
			if b := readAll(t, resp); resp.StatusCode != 200 || string(b) != body {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}

	t.Run("Graph's JSON cut short before it is all read is a problem", func(t *testing.T) {
		fake.serve(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", odataJSON)
			w.Header().Set("Content-Length", "1000")
			_, _ = io.WriteString(w, `{"value":[`)
			panic(http.ErrAbortHandler)
		})
		resp := h.do(t, "GET", "/api/graph/v1.0/me/messages", tok, nil, nil)
		if p := problemOf(t, 503, resp.Header, readAll(t, resp)); p.Code != "upstream_unavailable" {
			t.Errorf("code %s", p.Code)
		}
	})
}
