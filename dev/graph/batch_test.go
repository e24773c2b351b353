package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/addinsso/addinsso/dev/graph"
)

type innerResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// postBatch sends body (marshalled unless it is a string) to /v1.0/$batch.
func postBatch(t *testing.T, tok string, body any) (*http.Response, []byte) {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		raw = string(b)
	}
	req, _ := http.NewRequest(http.MethodPost, emu.URL+"/v1.0/$batch", strings.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := emu.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// responses decodes a 200 batch answer by id.
func responses(t *testing.T, resp *http.Response, b []byte) (map[string]innerResponse, []string) {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("batch: status %d: %s", resp.StatusCode, b)
	}
	var out struct {
		Responses []innerResponse `json:"responses"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("batch: %v: %s", err, b)
	}
	byID := make(map[string]innerResponse)
	var order []string
	for _, r := range out.Responses {
		byID[r.ID] = r
		order = append(order, r.ID)
	}
	return byID, order
}

type req = map[string]any

func TestBatch(t *testing.T) {
	erin := newUser("Erin Batch")
	tok := graphToken(erin, "User.Read Mail.Read", nil)
	id := graph.MessageID(erin.ObjectID, 2)
	before, batches, total := emu.Count(erin.ObjectID), emu.Batches(), emu.Total()
	resp, b := postBatch(t, tok, req{"requests": []req{
		{"id": "1", "method": "GET", "url": "/me"},
		{"id": "2", "method": "GET", "url": "me/messages?$top=2"}, // no leading slash, with a query
		{"id": "3", "method": "GET", "url": "/me/messages/" + id, "headers": req{"Prefer": `outlook.body-content-type="text"`}},
	}})
	got, order := responses(t, resp, b)
	if emu.Batches() != batches+1 || emu.Total() != total+1 {
		t.Errorf("batches %d, HTTP requests %d: want one of each", emu.Batches()-batches, emu.Total()-total)
	}
	if n := emu.Count(erin.ObjectID) - before; n != 3 {
		t.Errorf("count grew by %d, want 3, as three direct calls would", n)
	}
	if len(got) != 3 || strings.Join(order, ",") == "1,2,3" {
		t.Errorf("responses %v: want the three ids, not in the requests' order", order)
	}

	var me struct {
		ID      string `json:"id"`
		Context string `json:"@odata.context"`
	}
	if r := got["1"]; r.Status != 200 || json.Unmarshal(r.Body, &me) != nil || me.ID != erin.ObjectID ||
		me.Context != emu.URL+"/v1.0/$metadata#users/$entity" || !strings.HasPrefix(r.Headers["Content-Type"], "application/json") ||
		r.Headers["OData-Version"] != "4.0" {
		t.Errorf("/me: %d %v %s", r.Status, r.Headers, r.Body)
	}
	var page struct {
		Value    []struct{ ID string } `json:"value"`
		NextLink string                `json:"@odata.nextLink"`
	}
	if r := got["2"]; r.Status != 200 || json.Unmarshal(r.Body, &page) != nil || len(page.Value) != 2 || !strings.HasPrefix(page.NextLink, emu.URL+"/v1.0/me/messages?") {
		t.Errorf("/me/messages: %d %s", r.Status, r.Body)
	}
	var msg struct {
		ID   string
		Body struct{ ContentType string }
	}
	if r := got["3"]; r.Status != 200 || json.Unmarshal(r.Body, &msg) != nil || msg.ID != id || msg.Body.ContentType != "text" ||
		r.Headers["Preference-Applied"] == "" || r.Headers["ETag"] == "" {
		t.Errorf("/me/messages/{id}: %d %v %s", r.Status, r.Headers, r.Body)
	}
	if seen, _ := emu.LastRequest(erin.ObjectID); seen.Header.Get("Authorization") != "Bearer "+tok {
		t.Error("the inner request did not carry the batch's token")
	}

	// The same three sent alone count the same.
	before = emu.Count(erin.ObjectID)
	for _, p := range []string{"/v1.0/me", "/v1.0/me/messages?$top=2", "/v1.0/me/messages/" + id} {
		get(t, p, tok, nil)
	}
	if n := emu.Count(erin.ObjectID) - before; n != 3 {
		t.Errorf("direct calls counted %d, want 3", n)
	}

	// /beta/$batch resolves URLs under /beta.
	breq, _ := http.NewRequest(http.MethodPost, emu.URL+"/beta/$batch", strings.NewReader(`{"requests":[{"id":"a","method":"GET","url":"/me"}]}`))
	breq.Header.Set("Authorization", "Bearer "+tok)
	breq.Header.Set("Content-Type", "application/json")
	bresp, err := emu.Client().Do(breq)
	if err != nil {
		t.Fatal(err)
	}
	bb, _ := io.ReadAll(bresp.Body)
	bresp.Body.Close()
	if got, _ := responses(t, bresp, bb); got["a"].Status != 200 || !strings.Contains(string(got["a"].Body), emu.URL+"/beta/$metadata") {
		t.Errorf("beta: %+v", got["a"])
	}
}

func TestBatchRefused(t *testing.T) {
	frank := newUser("Frank Refused")
	tok := graphToken(frank, "User.Read Mail.Send", nil)
	many := func(n int) req {
		rs := make([]req, n)
		for i := range rs {
			rs[i] = req{"id": fmt.Sprint(i + 1), "method": "GET", "url": "/me"}
		}
		return req{"requests": rs}
	}
	tests := []struct {
		name string
		body any
		msg  string
	}{
		{"21 requests", many(21), "exceeds the limit"},
		{"no requests", `{"requests":[]}`, "at least one"},
		{"not JSON", `{"requests":`, "Unable to read JSON"},
		{"ids differ only in case", req{"requests": []req{{"id": "a", "method": "GET", "url": "/me"}, {"id": "A", "method": "GET", "url": "/me"}}}, "has to be unique in a batch"},
		{"body without Content-Type", req{"requests": []req{{"id": "1", "method": "POST", "url": "/me/sendMail", "body": req{"message": req{}}}}},
			"Write request id : 1 does not contain Content-Type header or body."},
		{"write without body", req{"requests": []req{{"id": "1", "method": "POST", "url": "/me/sendMail", "headers": req{"Content-Type": "application/json"}}}},
			"does not contain Content-Type header or body"},
		{"absolute URL", req{"requests": []req{{"id": "1", "method": "GET", "url": emu.URL + "/v1.0/me"}}}, "relative"},
		{"unknown dependency", req{"requests": []req{{"id": "1", "method": "GET", "url": "/me", "dependsOn": []string{"9"}}}}, "not in the batch"},
		{"two dependencies", req{"requests": []req{{"id": "1", "method": "GET", "url": "/me"}, {"id": "2", "method": "GET", "url": "/me"},
			{"id": "3", "method": "GET", "url": "/me", "dependsOn": []string{"1", "2"}}}}, "single other request"},
		{"neither serial nor same", req{"requests": []req{{"id": "1", "method": "GET", "url": "/me"}, {"id": "2", "method": "GET", "url": "/me", "dependsOn": []string{"1"}},
			{"id": "3", "method": "GET", "url": "/me", "dependsOn": []string{"2"}}, {"id": "4", "method": "GET", "url": "/me", "dependsOn": []string{"1"}}}}, "parallel, serial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := emu.Count(frank.ObjectID)
			resp, b := postBatch(t, tok, tt.body)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, b)
			}
			if e := decodeError(t, b); e.Error.Code != "BadRequest" || !strings.Contains(e.Error.Message, tt.msg) {
				t.Errorf("error %+v, want BadRequest with %q", e.Error, tt.msg)
			}
			if emu.Count(frank.ObjectID) != before {
				t.Error("a refused batch ran some of its requests")
			}
		})
	}
	resp, b := postBatch(t, tok, many(graph.MaxBatchRequests))
	if got, _ := responses(t, resp, b); len(got) != 20 {
		t.Errorf("20 requests: %d answers", len(got))
	}
	// Without a valid token the batch itself is refused, as any request.
	resp, b = postBatch(t, "abc", many(1))
	if resp.StatusCode != 401 || decodeError(t, b).Error.Code != "InvalidAuthenticationToken" {
		t.Errorf("bad token: %d %s", resp.StatusCode, b)
	}
}

func TestBatchDependsOn(t *testing.T) {
	gus := newUser("Gus Depends")
	tok := graphToken(gus, "User.Read Mail.Read", nil)
	before := emu.Count(gus.ObjectID)
	resp, b := postBatch(t, tok, req{"requests": []req{
		{"id": "1", "method": "GET", "url": "/me/messages/AAMkNOPE"},
		{"id": "2", "method": "GET", "url": "/me", "dependsOn": []string{"1"}},
		{"id": "3", "method": "GET", "url": "/me", "dependsOn": []string{"2"}},
	}})
	got, _ := responses(t, resp, b)
	if got["1"].Status != 404 {
		t.Errorf("1: %d %s", got["1"].Status, got["1"].Body)
	}
	for _, id := range []string{"2", "3"} {
		if r := got[id]; r.Status != http.StatusFailedDependency || decodeError(t, r.Body).Error.Code == "" {
			t.Errorf("%s: %d %s, want 424", id, r.Status, r.Body)
		}
	}
	if n := emu.Count(gus.ObjectID) - before; n != 1 {
		t.Errorf("%d requests ran, want only the first", n)
	}

	// "Same": both depend on 3, listed last; it runs first and succeeds.
	resp, b = postBatch(t, tok, req{"requests": []req{
		{"id": "1", "method": "GET", "url": "/me", "dependsOn": []string{"3"}},
		{"id": "2", "method": "GET", "url": "/me/messages?$top=1", "dependsOn": []string{"3"}},
		{"id": "3", "method": "GET", "url": "/me"},
	}})
	got, order := responses(t, resp, b)
	if got["1"].Status != 200 || got["2"].Status != 200 || got["3"].Status != 200 || order[len(order)-1] != "3" {
		t.Errorf("same dependency: %v (order %v)", got, order)
	}
}

func TestBatchScripted(t *testing.T) {
	hana := newUser("Hana Throttled")
	tok := graphToken(hana, "User.Read", caeCapable)
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	emu.Script(hana.ObjectID, graph.Throttled(3*time.Second), graph.Failure{}, graph.ClaimsChallenge(claims))
	resp, b := postBatch(t, tok, req{"requests": []req{
		{"id": "1", "method": "GET", "url": "/me"},
		{"id": "2", "method": "GET", "url": "/me"},
		{"id": "3", "method": "GET", "url": "/me"},
	}})
	got, _ := responses(t, resp, b)
	if r := got["1"]; r.Status != 429 || r.Headers["Retry-After"] != "3" || decodeError(t, r.Body).Error.Code != "TooManyRequests" {
		t.Errorf("throttled: %d %v %s", r.Status, r.Headers, r.Body)
	}
	if got["2"].Status != 200 {
		t.Errorf("2: %d", got["2"].Status)
	}
	r := got["3"]
	if r.Status != 401 || decodeError(t, r.Body).Error.Code != "InvalidAuthenticationToken" ||
		!strings.Contains(r.Headers["WWW-Authenticate"], `error="insufficient_claims", claims="`+base64.StdEncoding.EncodeToString([]byte(claims))+`"`) {
		t.Errorf("claims challenge: %d %v %s", r.Status, r.Headers, r.Body)
	}
}

func TestBatchBinary(t *testing.T) {
	ines := newUser("Ines Binary")
	tok := graphToken(ines, "User.Read Files.ReadWrite", nil)
	upload := []byte("\x00\x01binary\xff")
	resp, b := postBatch(t, tok, req{"requests": []req{
		{"id": "photo", "method": "GET", "url": "/me/photo/$value"},
		{"id": "content", "method": "GET", "url": "/me/drive/items/" + graph.ItemID(10) + "/content"},
		{"id": "upload", "method": "PUT", "url": "/me/drive/items/" + graph.ItemID(1) + "/content",
			"headers": req{"Content-Type": "application/octet-stream"}, "body": base64.URLEncoding.EncodeToString(upload)},
	}})
	got, _ := responses(t, resp, b)
	var s string
	r := got["photo"]
	if r.Status != 200 || r.Headers["Content-Type"] != "image/jpeg" || json.Unmarshal(r.Body, &s) != nil {
		t.Fatalf("photo: %d %v %.80s", r.Status, r.Headers, r.Body)
	}
	if jpg, err := base64.StdEncoding.DecodeString(s); err != nil || !bytes.Equal(jpg, graph.Photo(ines.ObjectID)) {
		t.Errorf("photo body is not the base64 of the photo: %v", err)
	}
	if r := got["content"]; r.Status != 302 || !strings.HasPrefix(r.Headers["Location"], emu.DownloadURL+"/") || len(r.Body) != 0 {
		t.Errorf("content: %d %v %s", r.Status, r.Headers, r.Body)
	}
	sum := sha256.Sum256(upload)
	var item struct {
		Size int
		File struct{ Hashes struct{ Sha256Hash string } }
	}
	if r := got["upload"]; r.Status != 200 || json.Unmarshal(r.Body, &item) != nil || item.Size != len(upload) ||
		item.File.Hashes.Sha256Hash != strings.ToUpper(hex.EncodeToString(sum[:])) {
		t.Errorf("upload: %d %s", r.Status, r.Body)
	}
}
