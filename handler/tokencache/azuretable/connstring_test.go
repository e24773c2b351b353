package azuretable

import (
	"strings"
	"testing"

	"github.com/addinsso/addinsso/dev/azurite"
)

// Azurite's published account key, and the table port UseDevelopmentStorage=true
// points at, for the tests.
const (
	devAccountKey = azurite.AccountKey
	devTablePort  = "10002"
)

// New refuses a connection string config would refuse, for whatever reason,
// without quoting it; Azurite on loopback still builds.
func TestNewChecksConnectionString(t *testing.T) {
	const secret = "c2VjcmV0LWtleQ=="
	for _, cs := range []string{
		"DefaultEndpointsProtocol=http;AccountName=a;AccountKey=" + secret,
		"AccountName=a;AccountKey=" + secret + ";TableEndpoint=http://storage.example/a",
		"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite",
	} {
		_, err := New(Config{ConnectionString: cs, Table: "graphtokens"}, Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "TOKEN_CACHE_CONNECTION_STRING: ") || !strings.Contains(err.Error(), "loopback") || strings.Contains(err.Error(), secret) {
			t.Errorf("New(%q): err = %v, want a refusal over http naming the setting, not quoting the key", cs, err)
		}
	}
	for _, cs := range []string{
		"UseDevelopmentStorage=true",
		"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + devAccountKey + ";TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
	} {
		if _, err := New(Config{ConnectionString: cs, Table: "graphtokens"}, Options{}); err != nil {
			t.Errorf("New(%q): %v", cs, err)
		}
	}
}
