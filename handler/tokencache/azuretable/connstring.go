package azuretable

import "github.com/addinsso/addinsso/handler/config"

// explicitConnectionString is config's, the one implementation: config.Load
// runs it at start (plain http off loopback refused, UseDevelopmentStorage=true
// translated) and New runs it again for a Config built by other means, such
// as tests. An explicit string comes back unchanged.
func explicitConnectionString(cs string) (string, error) { return config.ExplicitConnectionString(cs) }
