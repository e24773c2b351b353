package entra

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"
)

// The managed identity endpoint of App Service and Azure Functions
// (api-version 2019-08-01): the platform sets IDENTITY_ENDPOINT, a plain-HTTP
// loopback URL, and IDENTITY_HEADER, a secret sent back in X-IDENTITY-HEADER.
// azidentity's ManagedIdentityCredential picks this protocol when both are set.
// Its tokens, issued by this emulator for api://AzureADTokenExchange, are what
// an app registration trusts as a federated identity credential.

const (
	identityAPIVersion = "2019-08-01"
	identityLifetime   = 24 * time.Hour
)

// AddManagedIdentity assigns a user-assigned managed identity to the emulated
// host. principalID (its object ID) is the subject of its tokens.
func (s *Server) AddManagedIdentity(clientID, principalID string) {
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	s.obo.identities[clientID] = principalID
}

// IdentityEnv is the environment App Service gives a process with a managed
// identity; set it before creating a ManagedIdentityCredential.
func (s *Server) IdentityEnv() map[string]string {
	return map[string]string{"IDENTITY_ENDPOINT": s.IdentityEndpoint, "IDENTITY_HEADER": s.IdentityHeader}
}

func (s *Server) identityRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /msi/token", s.identityToken)
	return mux
}

func (s *Server) identityToken(w http.ResponseWriter, r *http.Request) {
	s.counter("identity").Add(1)
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(s.IdentityHeader)) != 1 {
		identityError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") != identityAPIVersion {
		identityError(w, http.StatusBadRequest, "api-version "+q.Get("api-version")+" is not supported; use "+identityAPIVersion+".")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		identityError(w, http.StatusBadRequest, "The resource parameter is required.")
		return
	}
	clientID, principalID := s.findIdentity(q.Get("client_id"), q.Get("principal_id")+q.Get("object_id"))
	if principalID == "" {
		identityError(w, http.StatusBadRequest, "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.")
		return
	}
	now := time.Now()
	exp := now.Add(identityLifetime)
	tok := s.Sign(nil, map[string]any{
		"aud":    resource,
		"iss":    s.URL + "/" + s.HomeTenantID + "/v2.0",
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    exp.Unix(),
		"sub":    principalID,
		"oid":    principalID,
		"tid":    s.HomeTenantID,
		"azp":    clientID,
		"appid":  clientID,
		"azpacr": "2",
		"idtyp":  "app",
		"ver":    "2.0",
		"uti":    randomID(),
		"rh":     "0.emulated",
	})
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    clientID,
	})
}

// findIdentity looks an identity up by client ID or principal ID. Without
// either, App Service would use the system-assigned identity, which the
// emulated host does not have.
func (s *Server) findIdentity(clientID, principalID string) (string, string) {
	s.obo.mu.RLock()
	defer s.obo.mu.RUnlock()
	if clientID != "" {
		return clientID, s.obo.identities[clientID]
	}
	for c, p := range s.obo.identities {
		if principalID != "" && p == principalID {
			return c, p
		}
	}
	return "", ""
}

func identityError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": NewGUID()})
}
