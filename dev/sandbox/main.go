// Command sandbox runs the whole add-in locally with one command (make dev) and
// prints one URL to open: the Entra ID and Graph emulators on a test CA,
// Azurite, the handler binary started as the Functions host starts it, and a
// front server playing Static Web Apps (the task pane, /api/* to the handler).
//
// The pane detects the sandbox through /.sandbox/config and shows a picker of
// dev users, each with a scripted scenario (users.go): the happy path, MFA
// required by Conditional Access, consent missing, throttling, expiry, outage.
//
// It is a development tool: nothing in handler/ imports it, and it listens on
// loopback only, because it mints tokens for whoever asks.
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
	port := flag.Int("port", 3000, "port of the front server (the URL to open); 0 picks a free one")
	verbose := flag.Bool("v", false, "also show Azurite's access log")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s, err := Start(ctx, Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), Verbose: *verbose})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	fmt.Printf("\n  Open %s\n\n  Pick a dev user in the pane; Ctrl-C stops everything.\n\n", s.URL)

	// A crashed handler leaves the pane with 502s: say so, and stop.
	handlerDied := make(chan struct{})
	go func() {
		for s.handler.Alive() {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
		close(handlerDied)
	}()

	code := 0
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\nsandbox: stopping…")
	case <-handlerDied:
		fmt.Fprintln(os.Stderr, "sandbox: the handler exited; its last words are above. Stopping.")
		code = 1
	}
	stop() // a second Ctrl-C now ends the process at once
	s.Close()
	os.Exit(code)
}
