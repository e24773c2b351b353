package entra

import "net/http"

// oboState is the token endpoint's state; the On-Behalf-Of grant comes with the exchange issue.
type oboState struct{}

func (o *oboState) init() {}

// token is the v2.0 token endpoint. Until On-Behalf-Of is emulated it answers
// as Entra does for a grant it does not support.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.counter("token").Add(1)
	writeJSON(w, http.StatusBadRequest, map[string]any{
		"error":             "unsupported_grant_type",
		"error_description": "AADSTS70003: The app requested an unsupported grant type.",
		"error_codes":       []int{70003},
	})
}
