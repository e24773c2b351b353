package exchange_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/addinsso/addinsso/dev/entra"
	"github.com/addinsso/addinsso/functions/exchange"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/web"
)

// inProcess serves the exchange Function in this process with the production
// wiring (verifier, memory-only token cache, MSAL On-Behalf-Of) against emu.
func inProcess(b *testing.B, emu *entra.Server) http.Handler {
	emu.RegisterApp(entra.App{ClientID: clientID, Secret: secret})
	vars := map[string]string{"ADDIN_CLIENT_ID": clientID, "ADDIN_CLIENT_SECRET": secret, "ENTRA_AUTHORITY_HOST": emu.URL, "GRAPH_SCOPES": "User.Read"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	s, err := function.NewServices(cfg, function.Options{Logger: log, HTTPClient: emu.Client()})
	if err != nil {
		b.Fatal(err)
	}
	f, err := exchange.New(s)
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = web.ErrorHandler
	e.Use(web.Middleware(log, 0x7fffffffffffffff))
	if err := function.Mount(e, f); err != nil {
		b.Fatal(err)
	}
	return e
}

func post(h http.Handler, tok string) (int, string) {
	req := httptest.NewRequest("POST", "/api/exchange", nil)
	req.Header.Set("X-Addin-Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// BenchmarkExchangeCacheHit: a repeat caller, no Entra call and no Table read.
func BenchmarkExchangeCacheHit(b *testing.B) {
	emu, err := entra.Start(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	h := inProcess(b, emu)
	tok := emu.Issue(newUser("bench"), clientID, entra.Token{})
	if code, body := post(h, tok); code != 200 {
		b.Fatal(body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if code, body := post(h, tok); code != 200 || !strings.Contains(body, `"memory"`) {
			b.Fatal(body)
		}
	}
	if n := emu.Count("token"); n != 1 {
		b.Fatalf("%d token requests, want 1", n)
	}
}

// BenchmarkExchangeDistinctTokens sends 100,000 distinct bootstrap tokens from
// 10,000 users (EXCHANGE_BENCH_TOKENS and _USERS change the numbers) and reports
// the heap and the process's resident memory afterwards: every level (verified
// tokens, Graph tokens, MSAL's OBO cache) is bounded, so neither grows with the
// number of distinct tokens. Minting the tokens (RSA signing) dominates its time.
func BenchmarkExchangeDistinctTokens(b *testing.B) {
	tokens, users := envInt("EXCHANGE_BENCH_TOKENS", 100_000), envInt("EXCHANGE_BENCH_USERS", 10_000)
	emu, err := entra.Start(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	h := inProcess(b, emu)
	people := make([]entra.User, users)
	for i := range people {
		people[i] = newUser(fmt.Sprintf("u%d", i))
	}
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)

	for b.Loop() {
		work := make(chan int)
		var wg sync.WaitGroup
		var failed sync.Once
		for range runtime.GOMAXPROCS(0) * 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					tok := emu.Issue(people[i%users], clientID, entra.Token{Claims: map[string]any{"uti": strconv.Itoa(i)}})
					if code, body := post(h, tok); code != 200 {
						failed.Do(func() { b.Error(body) })
					}
				}
			}()
		}
		for i := range tokens {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "MB-heap-after-GC")
	b.ReportMetric((float64(after.HeapInuse)-float64(base.HeapInuse))/(1<<20), "MB-heap-growth")
	b.ReportMetric(rssMB(), "MB-RSS")
	b.ReportMetric(float64(emu.Count("token")), "OBO-requests")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// rssMB is the process's resident set size from /proc (0 where there is none).
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}
