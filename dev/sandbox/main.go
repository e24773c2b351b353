// Command sandbox runs the whole add-in locally with one command and prints
// what to open. By default (make dev) everything is offline: the Entra ID and
// Graph emulators on a test CA, Azurite, the app built for this machine with
// its handler started as the Functions host starts it, and a front server
// playing Static Web Apps (the task pane, /api/* to the handler). The pane
// detects the sandbox through /.sandbox/config and shows a picker of dev
// users, each with a scripted scenario (users.go).
//
// With -tenant (npm run local) it runs against the developer's own tenant
// instead (tenant.go): the settings of local.settings.json, Azurite's blob,
// queue and table, `func start` when Azure Functions Core Tools are
// installed, the pane over HTTPS with office-addin-dev-certs' certificate,
// and the manifests to sideload.
//
// It is a development tool: nothing in handler/ imports it, and it listens on
// loopback only (the emulators mint tokens for whoever asks).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	tenant := flag.Bool("tenant", false, "run against your own tenant (local.settings.json) instead of the emulators")
	port := flag.Int("port", 3000, "port of the front server (the URL to open); 0 picks a free one (emulators only)")
	https := flag.Bool("https", false, "emulators: serve the pane over https with the run's test CA (-tenant always uses https)")
	settings := flag.String("settings", "", "-tenant: the settings file (default local.settings.json in the repository root)")
	verbose := flag.Bool("v", false, "also show Azurite's access log")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var (
		alive    func() bool
		closeAll func()
	)
	if *tenant {
		t, err := StartTenant(ctx, TenantOptions{Port: *port, Settings: *settings, Verbose: *verbose})
		if err != nil {
			fmt.Fprintln(os.Stderr, "local:", err)
			os.Exit(1)
		}
		fmt.Println(t.sideloadHelp())
		alive, closeAll = t.Alive, t.Close
	} else {
		s, err := Start(ctx, Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), Verbose: *verbose, HTTPS: *https})
		if err != nil {
			fmt.Fprintln(os.Stderr, "sandbox:", err)
			os.Exit(1)
		}
		fmt.Printf("\n  Open %s\n\n  Pick a dev user in the pane; Ctrl-C stops everything.\n\n", s.URL)
		alive, closeAll = s.Alive, s.Close
	}

	// A crashed handler (or host) leaves the pane with 502s: say so, and stop.
	died := make(chan struct{})
	go func() {
		for alive() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
		close(died)
	}()

	code := 0
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\nstopping…")
	case <-died:
		fmt.Fprintln(os.Stderr, "the handler exited; its last words are above. Stopping.")
		code = 1
	}
	stop() // a second Ctrl-C now ends the process at once
	closeAll()
	os.Exit(code)
}
