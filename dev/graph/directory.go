package graph

import (
	"net/http"
	"regexp"
	"strings"
)

// Directory is what the emulator serves of an Entra ID directory, read-only,
// as Graph v1.0's JSON objects: applications, service principals, delegated
// permission grants (oAuth2PermissionGrant: "clientId", "consentType",
// "principalId", "resourceId", "scope") and each application's federated
// identity credentials ("issuer", "subject", "audiences"), keyed by the
// application's object ID. Properties are served as given (Graph's resource
// types: learn.microsoft.com/graph/api/resources/application,
// .../serviceprincipal, .../oauth2permissiongrant, .../federatedidentitycredential).
type Directory struct {
	Applications                 []map[string]any            `json:"applications"`
	ServicePrincipals            []map[string]any            `json:"servicePrincipals"`
	OAuth2PermissionGrants       []map[string]any            `json:"oauth2PermissionGrants"`
	FederatedIdentityCredentials map[string][]map[string]any `json:"federatedIdentityCredentials"`
}

// SetDirectory replaces the directory the emulator serves.
func (s *Server) SetDirectory(d Directory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.directory = d
}

// directoryRead are the delegated permissions that read applications and
// service principals, least privileged first, and what the Azure CLI's own
// token carries (Directory.AccessAsUser.All).
var directoryRead = []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"}

// byKey is an entity addressed by an alternate key, applications(appId='…').
var byKey = regexp.MustCompile(`^(applications|servicePrincipals)\(appId='([0-9A-Fa-f-]{36})'\)$`)

// grantsFilter is the one $filter served on oauth2PermissionGrants, the
// documented "clientId eq '{id}'" (clientId supports $filter eq only).
var grantsFilter = regexp.MustCompile(`^clientId eq '([0-9A-Fa-f-]{36})'$`)

func (s *Server) directoryRoutes() {
	// A segment such as applications(appId='…') is one path segment to the
	// mux: any other segment is answered as before, scopes or not.
	entity := guard(directoryRead, "Authorization_RequestDenied", (*call).directoryEntity)
	s.mux.HandleFunc("GET /v1.0/{entity}", func(w http.ResponseWriter, r *http.Request) {
		if !byKey.MatchString(r.PathValue("entity")) {
			noSegment(w, r)
			return
		}
		entity(w, r)
	})
	s.handle("GET /v1.0/applications/{id}/federatedIdentityCredentials", directoryRead, "Authorization_RequestDenied", (*call).federatedCredentials)
	s.handle("GET /v1.0/oauth2PermissionGrants", directoryRead, "Authorization_RequestDenied", (*call).grants)
}

// directoryEntity serves applications(appId='…') and servicePrincipals(appId='…'),
// the "Get application" and "Get servicePrincipal" requests by appId.
func (c *call) directoryEntity(w http.ResponseWriter, r *http.Request) {
	m := byKey.FindStringSubmatch(r.PathValue("entity"))
	s := c.server
	s.mu.Lock()
	list := s.directory.Applications
	if m[1] == "servicePrincipals" {
		list = s.directory.ServicePrincipals
	}
	obj := find(list, "appId", m[2])
	s.mu.Unlock()
	if obj == nil {
		c.notFound(w, m[2])
		return
	}
	out := map[string]any{"@odata.context": c.base(r) + "/$metadata#" + m[1] + "/$entity"}
	for k, v := range obj {
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *call) federatedCredentials(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s := c.server
	s.mu.Lock()
	app := find(s.directory.Applications, "id", id)
	fics := s.directory.FederatedIdentityCredentials[id]
	s.mu.Unlock()
	if app == nil {
		c.notFound(w, id)
		return
	}
	c.collection(w, r, "applications('"+id+"')/federatedIdentityCredentials", fics)
}

func (c *call) grants(w http.ResponseWriter, r *http.Request) {
	f := r.URL.Query().Get("$filter")
	m := grantsFilter.FindStringSubmatch(f)
	if f != "" && m == nil {
		c.error(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property 'clientId' of resource 'OAuth2PermissionGrant'.")
		return
	}
	s := c.server
	s.mu.Lock()
	var out []map[string]any
	for _, g := range s.directory.OAuth2PermissionGrants {
		if m == nil || strings.EqualFold(str(g["clientId"]), m[1]) {
			out = append(out, g)
		}
	}
	s.mu.Unlock()
	c.collection(w, r, "oauth2PermissionGrants", out)
}

// collection writes Graph's collection answer: @odata.context and value.
func (c *call) collection(w http.ResponseWriter, r *http.Request, context string, value []map[string]any) {
	if value == nil {
		value = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": c.base(r) + "/$metadata#" + context, "value": value})
}

// notFound is directory objects' 404, in Graph's words.
func (c *call) notFound(w http.ResponseWriter, id string) {
	c.error(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
}

func find(list []map[string]any, key, value string) map[string]any {
	for _, o := range list {
		if strings.EqualFold(str(o[key]), value) {
			return o
		}
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }
