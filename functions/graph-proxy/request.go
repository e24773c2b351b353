package graphproxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/problem"
)

// forwarded are the request headers Graph may see from the caller; everything
// else (cookies, Authorization, X-Addin-Authorization, hop-by-hop and
// X-Forwarded-* headers) stays here.
var forwarded = []string{"Accept", "Content-Type", "Prefer", "Consistencylevel", "If-Match", "If-None-Match"}

// outboundHeader copies the forwarded headers, refusing malformed ones rather
// than dropping them (dropping If-Match would turn a conditional write into an
// unconditional one), and picks the client-request-id: the caller's when it is
// a GUID, else a new one.
func outboundHeader(in http.Header) (http.Header, string, error) {
	out := make(http.Header, len(forwarded)+3)
	for _, name := range forwarded {
		vs := in[name]
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 4 {
			return nil, "", problem.New(problem.BadRequest, "The %s header is repeated too often.", name)
		}
		for _, v := range vs {
			if len(v) > maxHeaderValueBytes || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
				return nil, "", problem.New(problem.BadRequest, "The %s header is longer than %d bytes or has control characters.", name, maxHeaderValueBytes)
			}
		}
		out[name] = append([]string(nil), vs...)
	}
	crid := in.Get("client-request-id")
	if !entra.IsGUID(crid) {
		crid = entra.NewGUID()
	}
	out.Set("client-request-id", crid)
	// Graph's bytes pass through unchanged, with their length: no transparent
	// decompression, no Content-Encoding to relay.
	out.Set("Accept-Encoding", "identity")
	return out, crid, nil
}

// body is the caller's request body on its way to Graph.
type body struct {
	kept   []byte // the whole body, when small enough to send again
	stream *limitedReader
	length int64 // -1: unknown
}

func readBody(r *http.Request) (*body, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, replayableBodyBytes+1))
	if err != nil {
		return nil, problem.New(problem.BadRequest, "The request body could not be read.").WithCause(err)
	}
	if len(head) <= replayableBodyBytes {
		return &body{kept: head, length: int64(len(head))}, nil
	}
	return &body{
		stream: &limitedReader{r: io.MultiReader(bytes.NewReader(head), r.Body), left: MaxBodyBytes},
		length: r.ContentLength,
	}, nil
}

func (b *body) replayable() bool { return b == nil || b.stream == nil }

func (b *body) exceeded() bool { return b != nil && b.stream != nil && b.stream.exceeded.Load() }

var errBodyTooLarge = errors.New("request body too large")

// limitedReader fails once more than left bytes are read, and remembers it.
type limitedReader struct {
	r        io.Reader
	left     int64
	exceeded atomic.Bool // read by the handler while the transport reads
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if l.left -= int64(n); l.left < 0 {
		l.exceeded.Store(true)
		return n, errBodyTooLarge
	}
	return n, err
}
