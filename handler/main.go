// Command handler is the Azure Functions custom handler: one binary serving
// every Function as an HTTP route. The Functions host forwards each request
// (enableForwardingHttpRequest) to FUNCTIONS_CUSTOMHANDLER_PORT and pings GET /
// until the handler answers; nothing here touches the network before that.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	exchange "github.com/addinsso/addinsso/functions/exchange"
	graphproxy "github.com/addinsso/addinsso/functions/graph-proxy"
	"github.com/addinsso/addinsso/functions/signout"
	"github.com/addinsso/addinsso/functions/sweep"
	"github.com/addinsso/addinsso/functions/validate"
	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/function"
	"github.com/addinsso/addinsso/handler/web"
)

// requestTimeout bounds a request: Static Web Apps gives an /api call 45 s.
const requestTimeout = 45 * time.Second

func main() {
	log := web.NewLogger(os.Stdout)
	cfg, err := config.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "configuration error: "+err.Error())
		os.Exit(2)
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}
	e, err := newServer(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start: "+err.Error())
		os.Exit(1)
	}
	if err := serve(e, "127.0.0.1:"+cfg.Port, log); err != nil {
		fmt.Fprintln(os.Stderr, "serve: "+err.Error())
		os.Exit(1)
	}
}

// functions are the binary's Functions, one line each; each is served on
// the route its own function.json declares.
var functions = []function.New{
	validate.New,
	exchange.New,
	graphproxy.New,
	signout.New,
	sweep.New,
}

// newServer builds the shared services from the validated settings and
// mounts every Function.
func newServer(cfg *config.Config, log *slog.Logger) (*echo.Echo, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = web.ErrorHandler
	e.Use(web.Middleware(log, requestTimeout))

	s, err := function.NewServices(cfg, function.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	// The host pings until the handler answers; only then are Entra's keys
	// fetched, in the background, so a cold instance's first caller normally
	// waits for nothing and the start makes no network call.
	ping := func(c echo.Context) error {
		err := c.NoContent(http.StatusOK)
		s.Verifier.Warm()
		return err
	}
	e.GET("/", ping)
	e.HEAD("/", ping)
	fns := make([]function.Function, 0, len(functions))
	for _, build := range functions {
		f, err := build(s)
		if err != nil {
			return nil, err
		}
		fns = append(fns, f)
	}
	return e, function.Mount(e, fns...)
}

// serve listens until SIGTERM or SIGINT, then drains in-flight requests.
func serve(e *echo.Echo, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       requestTimeout,
		// A caller that stops reading a streamed answer cannot hold it open.
		WriteTimeout:   requestTimeout + 5*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
