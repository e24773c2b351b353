package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// graphReader makes read-only Microsoft Graph v1.0 calls with the token of a
// credential (the Azure CLI's sign-in, in main).
type graphReader struct {
	base   string // https://graph.microsoft.com, no trailing slash
	cred   azcore.TokenCredential
	client *http.Client
	token  string
}

// errNotFound is Graph's 404 (Request_ResourceNotFound).
var errNotFound = errors.New("not found")

// get reads base/v1.0/path into out.
func (g *graphReader) get(ctx context.Context, path string, out any) error {
	if g.token == "" {
		// One token for every call: a v1 resource's .default scope, as
		// AzureCLICredential asks az for it.
		tok, err := g.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{g.base + "/.default"}})
		if err != nil {
			return fmt.Errorf("no Graph token from the Azure CLI (sign in with az login): %w", err)
		}
		g.token = tok.Token
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/v1.0/"+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return fmt.Errorf("GET /v1.0/%s: %s %s %s", strings.SplitN(path, "?", 2)[0], resp.Status, e.Error.Code, e.Error.Message)
	}
	return json.Unmarshal(body, out)
}

// byAppID addresses an application or service principal by its appId,
// Graph's alternate key: applications(appId='{appId}').
func byAppID(collection, appID string) string {
	return collection + "(appId='" + url.PathEscape(appID) + "')"
}
