package entra

import (
	"encoding/json"
	"strings"
	"testing"
)

// The v2.0 key set gives each key its issuer, as Entra's does: the {tenantid}
// template for the keys of every tenant, the tenant's own issuer for a key
// scoped to it. The v1.0 key set gives none. Issue signs a tenant's tokens
// with its own key.
func TestJWKSIssuers(t *testing.T) {
	s := start(t)
	common := s.SigningKeyID()
	consumers, err := s.TenantKey(ConsumersTenantID)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.TenantKey(ConsumersTenantID); again != consumers {
		t.Errorf("a second TenantKey made another key")
	}
	issuers := func(path string) map[string]any {
		resp, err := s.Client().Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		out := map[string]any{}
		for _, k := range set.Keys {
			out[k["kid"].(string)] = k["issuer"]
		}
		return out
	}
	v2 := issuers("/common/discovery/v2.0/keys")
	if v2[common] != s.URL+"/{tenantid}/v2.0" || v2[consumers] != s.URL+"/"+ConsumersTenantID+"/v2.0" {
		t.Errorf("v2.0 issuers %v", v2)
	}
	if v1 := issuers("/common/discovery/keys"); len(v1) != 2 || v1[common] != nil || v1[consumers] != nil {
		t.Errorf("v1.0 issuers %v, want none", v1)
	}
	header := func(tok string) string { return strings.Split(tok, ".")[0] }
	if got := header(s.Issue(User{TenantID: ConsumersTenantID, ObjectID: NewGUID()}, apiClientID, Token{})); got != header(s.SignWithTenantKey(ConsumersTenantID, nil, nil)) {
		t.Errorf("a personal account's token is not signed with its tenant's key")
	}
	if got := header(s.Issue(user(), apiClientID, Token{})); got != header(s.Sign(nil, nil)) {
		t.Errorf("a work account's token is not signed with the common key")
	}
}
