package obo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/addinsso/addinsso/handler/config"
)

// credential builds how the app proves itself to Entra ID, from whichever of
// ADDIN_CLIENT_SECRET, ADDIN_CLIENT_CERTIFICATE_PATH and
// ADDIN_FEDERATED_IDENTITY_CLIENT_ID is set (config allows exactly one).
func credential(c config.Credential, authorityHost string, hc *http.Client) (confidential.Credential, string, error) {
	switch {
	case c.Secret != "":
		cred, err := confidential.NewCredFromSecret(c.Secret)
		if err != nil {
			return cred, "", fmt.Errorf("ADDIN_CLIENT_SECRET: %w", err)
		}
		return cred, "secret", nil

	case c.CertificatePath != "":
		pem, err := os.ReadFile(c.CertificatePath)
		if err != nil {
			return confidential.Credential{}, "", fmt.Errorf("ADDIN_CLIENT_CERTIFICATE_PATH: %w", err)
		}
		certs, key, err := confidential.CertFromPEM(pem, "")
		if err != nil {
			return confidential.Credential{}, "", fmt.Errorf("ADDIN_CLIENT_CERTIFICATE_PATH: %s must hold the certificate and its unencrypted private key in PEM: %w", c.CertificatePath, err)
		}
		cred, err := confidential.NewCredFromCert(certs, key)
		if err != nil {
			return cred, "", fmt.Errorf("ADDIN_CLIENT_CERTIFICATE_PATH: %s: %w", c.CertificatePath, err)
		}
		return cred, "certificate", nil

	case c.FederatedIdentityClientID != "":
		// The managed identity's endpoint comes from the platform
		// (IDENTITY_ENDPOINT and IDENTITY_HEADER on App Service and Functions);
		// azidentity reads it now, and asks it for a token only when MSAL needs
		// a client assertion. Its token is cached by azidentity until near expiry.
		mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: azcore.ClientOptions{Transport: hc},
			ID:            azidentity.ClientID(c.FederatedIdentityClientID),
		})
		if err != nil {
			return confidential.Credential{}, "", fmt.Errorf("ADDIN_FEDERATED_IDENTITY_CLIENT_ID: %w", err)
		}
		scope := tokenExchangeAudience(authorityHost) + "/.default"
		return confidential.NewCredFromAssertionCallback(func(ctx context.Context, _ confidential.AssertionRequestOptions) (string, error) {
			tok, err := mi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
			if err != nil {
				return "", &identityError{err: err}
			}
			return tok.Token, nil
		}), "federated", nil
	}
	return confidential.Credential{}, "", errors.New("ADDIN_CLIENT_SECRET: no client credential is configured")
}

// identityError is a failure to get the managed identity's token, which stands
// in for the app's credential.
type identityError struct{ err error }

func (e *identityError) Error() string { return "managed identity: " + e.err.Error() }
func (e *identityError) Unwrap() error { return e.err }

// tokenExchangeAudience is the audience of a federated credential's token in
// the cloud of authorityHost, per Entra's workload identity federation
// documentation; the federated credential on the app registration must name it.
func tokenExchangeAudience(authorityHost string) string {
	u, err := url.Parse(authorityHost)
	if err == nil {
		switch strings.ToLower(u.Hostname()) {
		case "login.microsoftonline.us":
			return "api://AzureADTokenExchangeUSGov"
		case "login.chinacloudapi.cn", "login.partner.microsoftonline.cn":
			return "api://AzureADTokenExchangeChina"
		}
	}
	return "api://AzureADTokenExchange"
}
