// Command load measures the handler's validate throughput on loopback against
// a bare Go HTTP handler in the same run, so the figure says what our
// verification costs over net/http itself. Its request loops are bounded in
// count and time and target only 127.0.0.1.
//
//	go run ./dev/load -n 20000 -c 32
//
// With -cold it measures instead what a cold instance's first callers wait,
// with Entra ID and Graph each answering in -latency (100 ms): the first
// validate right after the host's ping and after a pause, and a new user's
// first Graph call on a cold and on a warm instance. -bin runs a given handler
// binary (built from another commit, say) against the same emulators.
//
//	go run ./dev/load -cold [-bin path/to/handler]
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/dev/funchost"
	"github.com/addinsso/addinsso/dev/graph"
)

const clientID = "11111111-2222-4333-8444-555555555555"

func main() {
	n := flag.Int("n", 20000, "requests per target")
	c := flag.Int("c", 32, "concurrent clients")
	users := flag.Int("users", 100, "distinct users (tokens)")
	limit := flag.Duration("limit", 60*time.Second, "time limit per target")
	cold := flag.Bool("cold", false, "measure a cold instance's first calls instead of throughput")
	latency := flag.Duration("latency", 100*time.Millisecond, "-cold: how long Entra ID and Graph take to answer")
	binary := flag.String("bin", "", "-cold: the handler binary to run (default: build this checkout)")
	flag.Parse()
	if *cold {
		coldStart(*binary, *latency)
		return
	}

	dir, err := os.MkdirTemp("", "load-")
	check(err)
	defer os.RemoveAll(dir)
	emu, err := entra.Start(nil)
	check(err)
	defer emu.Close()
	caFile := filepath.Join(dir, "ca.pem")
	check(emu.CA.WriteFile(caFile))
	bin, err := funchost.Build(dir)
	check(err)
	h, err := funchost.Start(bin, map[string]string{
		"ADDIN_CLIENT_ID":      clientID,
		"ADDIN_CLIENT_SECRET":  "load",
		"ENTRA_AUTHORITY_HOST": emu.URL,
		"SSL_CERT_FILE":        caFile,
	}, io.Discard)
	check(err)
	defer h.Stop()

	// The bare baseline: net/http answering a small JSON body, nothing else.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"tenantId":"","objectId":""}`)
	}))

	tokens := make([]string, *users)
	for i := range tokens {
		u := entra.User{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Name: "User", Username: fmt.Sprintf("u%d@a.example", i)}
		tokens[i] = emu.Issue(u, clientID, entra.Token{})
	}

	fmt.Printf("ping answered %v after exec\n", h.Started)
	bare := run("bare net/http", "http://"+ln.Addr().String()+"/api/validate", tokens, *n, *c, *limit)
	ours := run("handler validate", h.URL+"/api/validate", tokens, *n, *c, *limit)
	fmt.Printf("validate throughput = %.1f%% of bare net/http\n", 100*ours/bare)
}

// run sends n GETs with c workers and prints throughput and latency percentiles.
func run(name, url string, tokens []string, n, c int, limit time.Duration) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}, Timeout: 10 * time.Second}
	var next, failed atomic.Int64
	lat := make([]time.Duration, n)
	deadline := time.Now().Add(limit)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || time.Now().After(deadline) {
					return
				}
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("X-Addin-Authorization", "Bearer "+tokens[int(i)%len(tokens)])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	done := min(next.Load(), int64(n))
	lat = lat[:done]
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	rps := float64(done) / elapsed.Seconds()
	fmt.Printf("%-18s %7d requests in %6.2fs: %8.0f req/s, p50 %v, p99 %v, failed %d\n",
		name, done, elapsed.Seconds(), rps, lat[len(lat)/2], lat[len(lat)*99/100], failed.Load())
	if failed.Load() > 0 {
		log.Fatalf("%s: %d requests failed", name, failed.Load())
	}
	return rps
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// coldStart prints what a cold instance's first callers wait.
func coldStart(bin string, latency time.Duration) {
	dir, err := os.MkdirTemp("", "load-")
	check(err)
	defer os.RemoveAll(dir)
	emu, err := entra.Start(nil)
	check(err)
	defer emu.Close()
	emu.RegisterApp(entra.App{ClientID: clientID, Secret: "load"})
	g, err := graph.Start(emu.CA, emu.VerifyIssued)
	check(err)
	defer g.Close()
	caFile := filepath.Join(dir, "ca.pem")
	check(emu.CA.WriteFile(caFile))
	if bin == "" {
		bin, err = funchost.Build(dir)
		check(err)
	}
	emu.SetLatency(latency) // discovery and keys
	users := 0
	newUser := func() (entra.User, string) {
		users++
		u := entra.User{TenantID: "aaaaaaaa-0000-4000-8000-00000000000a", ObjectID: entra.NewGUID(), Name: "User", Username: fmt.Sprintf("u%d@a.example", users)}
		emu.Script(u.ObjectID, entra.Outcome{Delay: latency})            // the token endpoint
		g.Script(u.ObjectID, graph.Failure{Delay: latency, Times: 1000}) // Graph
		return u, emu.Issue(u, clientID, entra.Token{})
	}
	get := func(url, tok string) time.Duration {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		check(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			log.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
		return time.Since(t0)
	}
	start := func() *funchost.Handler {
		h, err := funchost.Start(bin, map[string]string{
			"ADDIN_CLIENT_ID":      clientID,
			"ADDIN_CLIENT_SECRET":  "load",
			"ENTRA_AUTHORITY_HOST": emu.URL,
			"GRAPH_BASE_URL":       g.URL,
			"SSL_CERT_FILE":        caFile,
		}, io.Discard)
		check(err)
		return h
	}
	const pause = time.Second // what the host takes between its ping and the first request it forwards
	fmt.Printf("Entra ID and Graph answer in %v\n", latency)

	h := start()
	_, tok := newUser()
	fmt.Printf("%-52s %v\n", "first validate, right after the ping:", get(h.URL+"/api/validate", tok).Round(time.Millisecond))
	fmt.Printf("%-52s %v\n", "the same token again (warm):", get(h.URL+"/api/validate", tok).Round(10*time.Microsecond))
	h.Stop()

	h = start()
	time.Sleep(pause)
	_, tok = newUser()
	fmt.Printf("%-52s %v\n", fmt.Sprintf("first validate, %v after the ping:", pause), get(h.URL+"/api/validate", tok).Round(time.Millisecond))
	h.Stop()

	h = start()
	time.Sleep(pause)
	_, tok = newUser()
	fmt.Printf("%-52s %v\n", fmt.Sprintf("new user's first Graph call, cold (%v after the ping):", pause), get(h.URL+"/api/graph/v1.0/me", tok).Round(time.Millisecond))
	_, tok = newUser()
	fmt.Printf("%-52s %v\n", "another new user's first Graph call (warm):", get(h.URL+"/api/graph/v1.0/me", tok).Round(time.Millisecond))
	fmt.Printf("%-52s %v\n", "the same session again (cache hit):", get(h.URL+"/api/graph/v1.0/me", tok).Round(time.Millisecond))
	h.Stop()
}
