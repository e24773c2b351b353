package azuretable

import (
	"fmt"
	"net/url"
	"strings"
)

// Azurite's development account. The key is not a secret: Microsoft publishes
// it in the Azurite documentation and it is the same on every machine.
const (
	devAccountName = "devstoreaccount1"
	devAccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	devTablePort   = "10002"
)

// explicitConnectionString translates the UseDevelopmentStorage=true
// shorthand, which the Functions tooling writes into local.settings.json but
// aztables does not understand, into Azurite's explicit connection string. As
// in Microsoft's storage SDKs, DevelopmentStorageProxyUri replaces only the
// scheme and host of http://127.0.0.1:10002/devstoreaccount1. Any other
// connection string is returned unchanged.
func explicitConnectionString(cs string) (string, error) {
	dev, proxy, other := false, "", ""
	for _, part := range strings.Split(strings.TrimRight(strings.TrimSpace(cs), ";"), ";") {
		name, value, _ := strings.Cut(part, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "usedevelopmentstorage":
			if !strings.EqualFold(value, "true") {
				return "", fmt.Errorf("UseDevelopmentStorage=%s: the only value is true", value)
			}
			dev = true
		case "developmentstorageproxyuri":
			proxy = value
		default:
			other = name
		}
	}
	switch {
	case !dev && proxy != "":
		return "", fmt.Errorf("DevelopmentStorageProxyUri needs UseDevelopmentStorage=true")
	case !dev:
		return cs, nil
	case other != "":
		return "", fmt.Errorf("UseDevelopmentStorage=true takes only DevelopmentStorageProxyUri, not %q", other)
	}
	scheme, host := "http", "127.0.0.1"
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return "", fmt.Errorf("DevelopmentStorageProxyUri %q is not an http(s) URL", proxy)
		}
		scheme, host = u.Scheme, u.Hostname()
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // IPv6 literal
		}
	}
	return "DefaultEndpointsProtocol=" + scheme + ";AccountName=" + devAccountName + ";AccountKey=" + devAccountKey +
		";TableEndpoint=" + scheme + "://" + host + ":" + devTablePort + "/" + devAccountName + ";", nil
}
