package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/addinsso/addinsso/handler/config"
)

// The resources below are Graph v1.0's, with only the properties read here,
// named as Graph names them:
//   - application (learn.microsoft.com/graph/api/resources/application):
//     identifierUris, signInAudience, api (apiApplication:
//     oauth2PermissionScopes, preAuthorizedApplications {appId,
//     delegatedPermissionIds}, requestedAccessTokenVersion), spa
//     (spaApplication: redirectUris), requiredResourceAccess {resourceAppId,
//     resourceAccess {id, type}}, passwordCredentials {hint, endDateTime}.
//   - servicePrincipal: id, appId, oauth2PermissionScopes (Graph's own).
//   - oAuth2PermissionGrant: "clientId: the object id (not appId) of the client
//     service principal", consentType (AllPrincipals or Principal),
//     resourceId, scope ("a space-separated list of the claim values for
//     delegated permissions").
//   - federatedIdentityCredential: issuer, subject, audiences ("should be set
//     to api://AzureADTokenExchange for Microsoft Entra ID").
type application struct {
	ID             string   `json:"id"`
	AppID          string   `json:"appId"`
	IdentifierURIs []string `json:"identifierUris"`
	SignInAudience string   `json:"signInAudience"`
	API            struct {
		OAuth2PermissionScopes []permissionScope `json:"oauth2PermissionScopes"`
		PreAuthorized          []struct {
			AppID                  string   `json:"appId"`
			DelegatedPermissionIDs []string `json:"delegatedPermissionIds"`
		} `json:"preAuthorizedApplications"`
		// nil or 1: v1.0 access tokens, as Entra defaults for an
		// organizational audience; 2: v2.0.
		RequestedAccessTokenVersion *int `json:"requestedAccessTokenVersion"`
	} `json:"api"`
	SPA struct {
		RedirectURIs []string `json:"redirectUris"`
	} `json:"spa"`
	RequiredResourceAccess []struct {
		ResourceAppID  string `json:"resourceAppId"`
		ResourceAccess []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"resourceAccess"`
	} `json:"requiredResourceAccess"`
	PasswordCredentials []struct {
		DisplayName string    `json:"displayName"`
		Hint        string    `json:"hint"` // the secret's first three characters
		EndDateTime time.Time `json:"endDateTime"`
	} `json:"passwordCredentials"`
}

type permissionScope struct {
	ID        string `json:"id"`
	Value     string `json:"value"`
	IsEnabled bool   `json:"isEnabled"`
}

type servicePrincipal struct {
	ID                     string            `json:"id"`
	AppID                  string            `json:"appId"`
	OAuth2PermissionScopes []permissionScope `json:"oauth2PermissionScopes"`
}

type grant struct {
	ClientID    string `json:"clientId"`
	ConsentType string `json:"consentType"`
	ResourceID  string `json:"resourceId"`
	Scope       string `json:"scope"`
}

type federatedCredential struct {
	Name      string   `json:"name"`
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Audiences []string `json:"audiences"`
}

const (
	graphAppID = "00000003-0000-0000-c000-000000000000"
	// allOfficeApps is "All Microsoft Office application endpoints", the one
	// pre-authorisation that covers every Office client (config.OfficeClientApps[0]).
	allOfficeApps         = "ea5a67f6-b6f3-4338-b240-c655ddc3cc8e"
	tokenExchangeAudience = "api://AzureADTokenExchange"
	// secretWarning is how early an expiring client secret is reported.
	secretWarning = 30 * 24 * time.Hour
)

// registration is the app registration as Graph describes it.
type registration struct {
	app     application
	sp      *servicePrincipal // nil: no service principal in this tenant
	graphSP servicePrincipal  // Microsoft Graph's own: its permission IDs
	grants  []grant
	fics    []federatedCredential
	// miPrincipal is the managed identity's principal (object) ID, "" when
	// ADDIN_FEDERATED_IDENTITY_CLIENT_ID is unset or Graph could not say.
	miPrincipal string
	miErr       error
}

// readRegistration reads the application of cfg.ClientID and what hangs off it.
func readRegistration(ctx context.Context, g *graphReader, cfg *config.Config) (*registration, error) {
	reg := &registration{}
	if err := g.get(ctx, byAppID("applications", cfg.ClientID), &reg.app); err != nil {
		if errors.Is(err, errNotFound) {
			return nil, fmt.Errorf("no application with appId %s in the signed-in tenant: %w", cfg.ClientID, err)
		}
		return nil, err
	}
	var sp servicePrincipal
	switch err := g.get(ctx, byAppID("servicePrincipals", cfg.ClientID), &sp); {
	case err == nil:
		reg.sp = &sp
		var list struct{ Value []grant }
		if err := g.get(ctx, "oauth2PermissionGrants?$filter="+url.QueryEscape("clientId eq '"+sp.ID+"'"), &list); err != nil {
			return nil, err
		}
		reg.grants = list.Value
	case !errors.Is(err, errNotFound):
		return nil, err
	}
	if err := g.get(ctx, byAppID("servicePrincipals", graphAppID)+"?$select=id,appId,oauth2PermissionScopes", &reg.graphSP); err != nil {
		return nil, err
	}
	var fics struct{ Value []federatedCredential }
	if err := g.get(ctx, "applications/"+url.PathEscape(reg.app.ID)+"/federatedIdentityCredentials", &fics); err != nil {
		return nil, err
	}
	reg.fics = fics.Value
	if mi := cfg.Credential.FederatedIdentityClientID; mi != "" {
		// A managed identity's service principal: appId is its client ID, id
		// its principal (object) ID, the subject of its tokens.
		var misp servicePrincipal
		if reg.miErr = g.get(ctx, byAppID("servicePrincipals", mi), &misp); reg.miErr == nil {
			reg.miPrincipal = misp.ID
		}
	}
	return reg, nil
}

// tokenVersion is the access token version Entra issues for the API.
func (a *application) tokenVersion() string {
	if v := a.API.RequestedAccessTokenVersion; v != nil && *v == 2 {
		return "2.0"
	}
	return "1.0"
}
