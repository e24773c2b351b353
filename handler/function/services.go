package function

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/addinsso/addinsso/handler/config"
	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/graphtoken"
	"github.com/addinsso/addinsso/handler/obo"
	"github.com/addinsso/addinsso/handler/token"
	"github.com/addinsso/addinsso/handler/tokencache"
	"github.com/addinsso/addinsso/handler/tokencache/azuretable"
)

// Options tunes NewServices; the zero value is production.
type Options struct {
	// Logger is the process's logger. nil: slog.Default().
	Logger *slog.Logger
	// HTTPClient makes every outbound call: Entra ID, the managed identity,
	// Table Storage, Graph. nil: entra.HTTPClient(). In-process tests pass one
	// trusting the emulators' CA; the binary trusts them only through SSL_CERT_FILE.
	HTTPClient *http.Client
}

// NewServices builds what the Functions share from the validated settings,
// filling each package's Config. Nothing here touches the network.
func NewServices(cfg *config.Config, opts Options) (Services, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = entra.HTTPClient()
	}
	log, hc := opts.Logger, opts.HTTPClient
	verifier := token.New(token.Config{
		ClientID:          cfg.ClientID,
		AppIDURI:          cfg.AppIDURI,
		TenantID:          cfg.TenantID,
		AllowedTenants:    cfg.AllowedTenants,
		RequiredScope:     cfg.RequiredScope,
		AllowedClientApps: cfg.AllowedClientApps,
		MFA:               cfg.MFA,
		AuthorityHost:     cfg.AuthorityHost,
	}, token.Options{Logger: log, HTTPClient: hc})

	var store tokencache.Store
	if tc := cfg.TokenCache; tc.UsesTableStorage() {
		var err error
		store, err = azuretable.New(azuretable.Config{
			ConnectionString:        tc.ConnectionString,
			Endpoint:                tc.Endpoint,
			Table:                   tc.Table,
			ManagedIdentityClientID: cfg.Credential.FederatedIdentityClientID,
		}, azuretable.Options{Logger: log, HTTPClient: hc})
		if err != nil {
			return Services{}, fmt.Errorf("token cache: %w", err)
		}
	}
	cache, err := tokencache.New(tokencache.Config{Store: store, Keys: cfg.TokenCache.Keys}, tokencache.Options{Logger: log})
	if err != nil {
		return Services{}, fmt.Errorf("token cache: %w", err)
	}
	onBehalfOf, err := obo.New(obo.Config{
		ClientID:      cfg.ClientID,
		AuthorityHost: cfg.AuthorityHost,
		TenantID:      cfg.TenantID,
		GraphResource: cfg.GraphBase.String(),
		Credential:    cfg.Credential,
	}, obo.Options{Logger: log, HTTPClient: hc})
	if err != nil {
		return Services{}, fmt.Errorf("on-behalf-of: %w", err)
	}
	return Services{
		Config:     cfg,
		Verifier:   verifier,
		Tokens:     graphtoken.New(graphtoken.Config{Scopes: cfg.GraphScopes, Cache: cache, Exchanger: onBehalfOf}, graphtoken.Options{}),
		Cache:      cache,
		HTTPClient: hc,
		Logger:     log,
	}, nil
}
