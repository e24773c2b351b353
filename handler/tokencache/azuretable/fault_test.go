package azuretable

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFaults: whatever way the table service fails, every call returns a
// fault (never one of the answers the cache acts on) within the caller's
// deadline, and its text names neither the row nor the account key.
func TestFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		serve func(t *testing.T) string // returns host:port
	}{
		{"connection refused", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln.Close()
			return ln.Addr().String()
		}},
		{"accepts and never answers", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					t.Cleanup(func() { conn.Close() })
				}
			}()
			return ln.Addr().String()
		}},
		{"503 server busy", statusServer(http.StatusServiceUnavailable, "ServerBusy")},
		{"500 internal error", statusServer(http.StatusInternalServerError, "InternalError")},
		{"429 throttled", statusServer(http.StatusTooManyRequests, "")},
		{"403 forbidden", statusServer(http.StatusForbidden, "AuthorizationPermissionMismatch")},
		{"302 redirect, never followed", func(t *testing.T) string {
			var followed atomic.Int32
			elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Add(1) }))
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			}))
			t.Cleanup(func() {
				s.Close()
				elsewhere.Close()
				if n := followed.Load(); n != 0 {
					t.Errorf("%d redirects followed", n)
				}
			})
			return s.Listener.Addr().String()
		}},
		{"200 with garbage", func(t *testing.T) string {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/devstoreaccount1/Tables" { // let the table be created, so Get reads the garbage
					w.WriteHeader(http.StatusNoContent)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte("{not json"))
			}))
			t.Cleanup(s.Close)
			return s.Listener.Addr().String()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLogs(t)
			cs := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";TableEndpoint=http://" + tc.serve(t) + "/devstoreaccount1;"
			s, err := New(Config{ConnectionString: cs, Table: "graphtokens"}, Options{Logger: l.logger()})
			if err != nil {
				t.Fatal(err)
			}
			r := testRow("sealed")
			for _, call := range []struct {
				name string
				do   func(ctx context.Context) error
			}{
				{"Get", func(ctx context.Context) error { _, err := s.Get(ctx, r.PartitionKey, r.RowKey); return err }},
				{"Add", func(ctx context.Context) error { return s.Add(ctx, r) }},
				{"Replace", func(ctx context.Context) error { return s.Replace(ctx, r, "W/\"any\"") }},
				{"Delete", func(ctx context.Context) error { return s.Delete(ctx, r.PartitionKey, r.RowKey, "W/\"any\"") }},
				{"DeletePartition", func(ctx context.Context) error { _, err := s.DeletePartition(ctx, r.PartitionKey); return err }},
				{"DeleteExpired", func(ctx context.Context) error { _, err := s.DeleteExpired(ctx, r.ExpiresAt, 10); return err }},
			} {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				err := call.do(ctx)
				cancel()
				if err == nil || isAnswer(err) {
					t.Fatalf("%s = %v, want a fault", call.name, err)
				}
				for _, secret := range []string{r.PartitionKey, r.RowKey, devAccountKey, "/devstoreaccount1", "graphtokens"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("%s: the error %q quotes %q", call.name, err, secret)
					}
				}
			}
			if forbidden := strings.Contains(l.String(), "not allowed to create the table"); forbidden != (tc.name == "403 forbidden") {
				t.Errorf("warning about creating the table logged: %v\n%s", forbidden, l.String())
			}
		})
	}
}

func statusServer(status int, code string) func(t *testing.T) string {
	return func(t *testing.T) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if code != "" {
				w.Header().Set("x-ms-error-code", code)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(`{"odata.error":{"code":"` + code + `","message":{"value":"scripted"}}}`))
		}))
		t.Cleanup(s.Close)
		return s.Listener.Addr().String()
	}
}
