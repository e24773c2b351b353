// Package azuretable is the token cache's Store in Azure Table Storage (or
// Azurite): one table, one entity per row, ETags for the conditional writes.
package azuretable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/addinsso/addinsso/handler/entra"
	"github.com/addinsso/addinsso/handler/tokencache"
)

// Config says which table to use, as config has validated it: either a
// connection string or an endpoint reached with a token credential.
type Config struct {
	ConnectionString        string // TOKEN_CACHE_CONNECTION_STRING; UseDevelopmentStorage=true means Azurite
	Endpoint                string // TOKEN_CACHE_ENDPOINT
	Table                   string // TOKEN_CACHE_TABLE
	ManagedIdentityClientID string // the user-assigned identity for Endpoint; "" means DefaultAzureCredential
}

// Options tunes a Store; the zero value is the production default.
type Options struct {
	// Logger receives the warning when the table may not be created. Nil
	// means slog.Default().
	Logger *slog.Logger
	// HTTPClient carries every request, the credential's included. Nil means
	// entra.HTTPClient().
	HTTPClient *http.Client
	// Credential authorises Endpoint requests. Nil means the managed identity
	// named by ManagedIdentityClientID or, when that is empty,
	// DefaultAzureCredential (the system identity in Azure, az login on a
	// developer's machine).
	Credential azcore.TokenCredential
}

// Store is a tokencache.Store in one table. It is safe for concurrent use.
type Store struct {
	client *aztables.Client
	log    *slog.Logger
	// pageSize is the most entities one list request asks for: the
	// service's own maximum, smaller in tests so they cross pages.
	pageSize int

	// The table is created on first use, and again after it is found missing.
	created  atomic.Bool
	createMu sync.Mutex
}

var _ tokencache.Store = (*Store)(nil)

// New builds the Store for cfg without a network call, so the handler can
// answer the host's first ping at once. Errors name the setting at fault.
func New(cfg Config, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = entra.HTTPClient()
	}
	// No retries: the cache's per-call timeout is short, and a miss only
	// costs an exchange, so failing fast beats retrying into the caller's latency.
	clientOpts := &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: opts.HTTPClient,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
	var svc *aztables.ServiceClient
	switch {
	case cfg.ConnectionString != "":
		cs, err := explicitConnectionString(cfg.ConnectionString)
		if err != nil {
			return nil, fmt.Errorf("TOKEN_CACHE_CONNECTION_STRING: %w", err)
		}
		// The SDK's message does not echo the string, which holds the account key.
		if svc, err = aztables.NewServiceClientFromConnectionString(cs, clientOpts); err != nil {
			return nil, fmt.Errorf("TOKEN_CACHE_CONNECTION_STRING: %w", err)
		}
	case cfg.Endpoint != "":
		cred, err := credential(cfg.ManagedIdentityClientID, opts)
		if err != nil {
			return nil, fmt.Errorf("TOKEN_CACHE_ENDPOINT: no credential for Table Storage: %w", err)
		}
		if svc, err = aztables.NewServiceClient(cfg.Endpoint, cred, clientOpts); err != nil {
			return nil, fmt.Errorf("TOKEN_CACHE_ENDPOINT: %w", err)
		}
	default:
		return nil, errors.New("TOKEN_CACHE_ENDPOINT: neither it nor TOKEN_CACHE_CONNECTION_STRING is set")
	}
	return &Store{client: svc.NewClient(cfg.Table), log: opts.Logger, pageSize: maxPageSize}, nil
}

// credential builds, without a network call, the identity production uses
// unless opts names one.
func credential(clientID string, opts Options) (azcore.TokenCredential, error) {
	clientOpts := azcore.ClientOptions{Transport: opts.HTTPClient}
	switch {
	case opts.Credential != nil:
		return opts.Credential, nil
	case clientID != "":
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: clientOpts,
			ID:            azidentity.ClientID(clientID),
		})
	}
	return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: clientOpts})
}

func (s *Store) Get(ctx context.Context, partitionKey, rowKey string) (tokencache.Row, error) {
	if err := s.ensureTable(ctx); err != nil {
		return tokencache.Row{}, err
	}
	resp, err := s.client.GetEntity(ctx, partitionKey, rowKey, nil)
	if err != nil {
		return tokencache.Row{}, s.answer(err)
	}
	return decode(resp.Value, resp.ETag), nil
}

func (s *Store) Add(ctx context.Context, r tokencache.Row) error {
	if err := s.ensureTable(ctx); err != nil {
		return err
	}
	_, err := s.client.AddEntity(ctx, encode(r), nil)
	return s.answer(err)
}

func (s *Store) Replace(ctx context.Context, r tokencache.Row, etag string) error {
	if err := s.ensureTable(ctx); err != nil {
		return err
	}
	match := azcore.ETag(etag)
	_, err := s.client.UpdateEntity(ctx, encode(r), &aztables.UpdateEntityOptions{IfMatch: &match, UpdateMode: aztables.UpdateModeReplace})
	return s.answer(err)
}

func (s *Store) Delete(ctx context.Context, partitionKey, rowKey, etag string) error {
	if err := s.ensureTable(ctx); err != nil {
		return err
	}
	opts := &aztables.DeleteEntityOptions{} // IfMatch nil: any version
	if etag != "" {
		match := azcore.ETag(etag)
		opts.IfMatch = &match
	}
	_, err := s.client.DeleteEntity(ctx, partitionKey, rowKey, opts)
	return s.answer(err)
}

// ensureTable creates the table on first use, not in New, so start-up makes
// no network call. A failure is a fault like any other, and the cache tries
// again after its pause.
func (s *Store) ensureTable(ctx context.Context) error {
	if s.created.Load() {
		return nil
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if s.created.Load() {
		return nil
	}
	_, err := s.client.CreateTable(ctx, nil)
	switch {
	case err == nil, errorCode(err) == aztables.TableAlreadyExists:
	case status(err) == http.StatusForbidden:
		// An identity allowed to use rows but not to create tables: the
		// deployment creates the table, so go on and let row calls tell.
		s.log.WarnContext(ctx, "token cache: not allowed to create the table; assuming the deployment created it", "error", describe(err))
	default:
		return failed(err) // whatever the status: not an answer about a row
	}
	s.created.Store(true)
	return nil
}
