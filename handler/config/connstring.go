package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/addinsso/addinsso/handler/entra"
)

// Azurite's development account. The key is not a secret: Microsoft publishes
// it in the Azurite documentation and it is the same on every machine.
const (
	azuriteAccountName = "devstoreaccount1"
	azuriteAccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	azuriteTablePort   = "10002"
)

// ExplicitConnectionString checks a Table Storage connection string
// (TOKEN_CACHE_CONNECTION_STRING) and returns the form aztables understands.
//
// Table Storage is reached over TLS, or over plain http only on loopback
// (Azurite): DefaultEndpointsProtocol=http, a TableEndpoint or a
// DevelopmentStorageProxyUri over http to any other host is refused, since the
// requests carry the account's signature and the tokens' rows.
//
// The UseDevelopmentStorage=true shorthand, which the Functions tooling writes
// into local.settings.json but aztables does not understand, becomes Azurite's
// explicit connection string. As in Microsoft's storage SDKs,
// DevelopmentStorageProxyUri replaces only the scheme and host of
// http://127.0.0.1:10002/devstoreaccount1. Any other connection string is
// returned unchanged.
//
// Errors never quote a value: the string holds the account key or a shared
// access signature, and a malformed one may hold them anywhere.
func ExplicitConnectionString(cs string) (string, error) {
	var dev, other, account, credential bool
	var protocol, tableEndpoint, proxy string
	for i, part := range strings.Split(strings.TrimRight(strings.TrimSpace(cs), ";"), ";") {
		name, value, ok := strings.Cut(part, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return "", fmt.Errorf("part %d (between semicolons) is not name=value, as in AccountName=<name>", i+1)
		}
		// Names are matched in any case, so no spelling slips past the checks
		// below; aztables reads only the spelling Microsoft documents.
		switch strings.ToLower(name) {
		case "usedevelopmentstorage":
			if !strings.EqualFold(value, "true") {
				return "", errors.New("UseDevelopmentStorage: the only value is true")
			}
			dev = true
		case "developmentstorageproxyuri":
			proxy = value
		case "defaultendpointsprotocol":
			protocol, other = strings.ToLower(value), true
		case "tableendpoint":
			tableEndpoint, other = value, true
		case "accountname":
			account, other = account || value != "", true
		case "accountkey", "sharedaccesssignature":
			credential, other = credential || value != "", true
		default:
			other = true
		}
	}
	switch {
	case !dev && proxy != "":
		return "", errors.New("DevelopmentStorageProxyUri needs UseDevelopmentStorage=true")
	case dev && other:
		return "", errors.New("UseDevelopmentStorage=true takes no other part than DevelopmentStorageProxyUri")
	case !dev && (!account || !credential):
		return "", errors.New("expected AccountName and AccountKey or SharedAccessSignature (or UseDevelopmentStorage=true)")
	case !dev:
		return cs, checkTableTransport(protocol, tableEndpoint)
	}
	scheme, host := "http", "127.0.0.1"
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			return "", errors.New("DevelopmentStorageProxyUri is not an http(s) URL (http(s)://host)")
		}
		if u.Scheme == "http" && !entra.IsLoopback(u.Hostname()) {
			return "", fmt.Errorf("DevelopmentStorageProxyUri: http to %q, which is not loopback; use https", u.Hostname())
		}
		scheme, host = u.Scheme, u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // IPv6 literal
		}
	}
	return "DefaultEndpointsProtocol=" + scheme + ";AccountName=" + azuriteAccountName + ";AccountKey=" + azuriteAccountKey +
		";TableEndpoint=" + scheme + "://" + host + ":" + azuriteTablePort + "/" + azuriteAccountName + ";", nil
}

// checkTableTransport refuses plain http except to a loopback TableEndpoint.
// Without a TableEndpoint, aztables builds <account>.table.<suffix> with
// DefaultEndpointsProtocol, which is never loopback.
func checkTableTransport(protocol, tableEndpoint string) error {
	if protocol != "" && protocol != "https" && protocol != "http" {
		return errors.New("DefaultEndpointsProtocol is neither https nor http")
	}
	if tableEndpoint == "" {
		if protocol == "http" {
			return errors.New("DefaultEndpointsProtocol=http sends the account's requests in the clear; use https (http only with a loopback TableEndpoint, as Azurite's)")
		}
		return nil
	}
	u, err := url.Parse(tableEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return errors.New("TableEndpoint is not an http(s) URL (https://host[:port][/path])")
	}
	switch {
	case entra.IsLoopback(u.Hostname()):
	case u.Scheme == "http":
		return fmt.Errorf("TableEndpoint: http to %q, which is not loopback; use https", u.Hostname())
	case protocol == "http":
		return fmt.Errorf("DefaultEndpointsProtocol=http with TableEndpoint %q, which is not loopback; use https", u.Hostname())
	}
	return nil
}
