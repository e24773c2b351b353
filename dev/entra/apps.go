package entra

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// App is a confidential app registration: the add-in's API, which redeems
// users' tokens with On-Behalf-Of. It proves itself with any one of its
// credentials, as in Entra.
type App struct {
	ClientID    string
	AppIDURI    string // accepted as the audience of v1.0 assertions, beside ClientID
	DisplayName string

	Secret        string
	SecretExpired bool // the secret is registered but past its end date (AADSTS7000222)
	// Certificates are the public certificates uploaded to the registration.
	Certificates []*x509.Certificate
	// FederatedCredentials trust tokens of other issuers (a managed identity).
	FederatedCredentials []Federated
}

// Federated is a federated identity credential: a token from Issuer about
// Subject for Audience stands in for the app's own credential. Entra matches
// all three exactly, case-sensitively.
type Federated struct {
	Issuer   string
	Subject  string
	Audience string
}

// TokenExchangeAudience is the audience of tokens used as federated credentials
// in the public cloud.
const TokenExchangeAudience = "api://AzureADTokenExchange"

// RegisterApp adds or replaces an app registration.
func (s *Server) RegisterApp(a App) {
	a.Certificates = append([]*x509.Certificate(nil), a.Certificates...)
	a.FederatedCredentials = append([]Federated(nil), a.FederatedCredentials...)
	s.obo.mu.Lock()
	defer s.obo.mu.Unlock()
	s.obo.apps[a.ClientID] = &a
}

// ManagedIdentityFederation is the federated credential that trusts the
// managed identity with principalID, as the portal writes it.
func (s *Server) ManagedIdentityFederation(principalID string) Federated {
	return Federated{Issuer: s.URL + "/" + s.HomeTenantID + "/v2.0", Subject: principalID, Audience: TokenExchangeAudience}
}

func (s *Server) app(clientID string) *App {
	s.obo.mu.RLock()
	defer s.obo.mu.RUnlock()
	return s.obo.apps[clientID]
}

// ClientCertificate is a self-signed certificate and its key, as
// `az ad app credential reset --create-cert` makes for an app registration.
type ClientCertificate struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// NewClientCertificate makes an RSA certificate valid for a day.
func NewClientCertificate(commonName string) (*ClientCertificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &ClientCertificate{Cert: cert, Key: key}, nil
}

// PEM is the certificate followed by its PKCS #8 private key: the file
// ADDIN_CLIENT_CERTIFICATE_PATH names.
func (c *ClientCertificate) PEM() []byte {
	key, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		panic(err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
}

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticateClient checks the credential a token request carries for app, as
// Entra's token endpoint does: a client secret, a client assertion signed with
// a registered certificate's key, or a client assertion that is a federated
// credential's token. It returns the appidacr the issued token carries.
func (c *tokenCall) authenticateClient(app *App) (acr string, fail *oauthError) {
	secret, assertion := c.form.Get("client_secret"), c.form.Get("client_assertion")
	switch {
	case secret != "" && assertion != "":
		return "", c.invalidRequest(900023, "Specified client credentials are ambiguous: send either client_secret or client_assertion.")
	case secret != "":
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1 {
			return "", c.invalidClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"+app.ClientID+"'.")
		}
		if app.SecretExpired {
			return "", c.invalidClient(7000222, "The provided client secret keys for app '"+app.ClientID+"' are expired. Visit the Azure portal to create new keys for your app.")
		}
		return "1", nil
	case assertion != "":
		if c.form.Get("client_assertion_type") != clientAssertionType {
			return "", c.invalidRequest(900144, "The request body must contain the following parameter: 'client_assertion_type'.")
		}
		return c.authenticateAssertion(app, assertion)
	}
	return "", c.invalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}

// authenticateAssertion tells a certificate assertion (issued by the app
// itself) from a federated one (issued by someone the app trusts).
func (c *tokenCall) authenticateAssertion(app *App, assertion string) (string, *oauthError) {
	parts := strings.Split(assertion, ".")
	var claims struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
		Exp int64  `json:"exp"`
		Nbf int64  `json:"nbf"`
	}
	if len(parts) != 3 || decodeJSON(parts[1], &claims) != nil {
		return "", c.invalidClient(50027, "JWT token is invalid or malformed.")
	}
	if claims.Iss == app.ClientID && claims.Sub == app.ClientID {
		if fail := c.verifyCertificateAssertion(app, parts); fail != nil {
			return "", fail
		}
	} else if fail := c.verifyFederatedAssertion(app, assertion); fail != nil {
		return "", fail
	}
	now := time.Now()
	if claims.Exp == 0 || now.After(time.Unix(claims.Exp, 0).Add(clockSkew)) || now.Add(clockSkew).Before(time.Unix(claims.Nbf, 0)) {
		return "", c.invalidClient(700024, "Client assertion is not within its valid time range. Current time: "+now.UTC().Format(time.RFC3339)+", assertion valid until "+time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339)+".")
	}
	return "2", nil
}

// verifyCertificateAssertion checks a JWT the app signed with a registered
// certificate's key: the key is picked by thumbprint (x5t#S256 or x5t), the
// signature is PS256 or RS256, and the audience is this token endpoint.
func (c *tokenCall) verifyCertificateAssertion(app *App, parts []string) *oauthError {
	var h struct {
		Alg     string `json:"alg"`
		X5t     string `json:"x5t"`
		X5tS256 string `json:"x5t#S256"`
	}
	if decodeJSON(parts[0], &h) != nil {
		return c.invalidClient(50027, "JWT token is invalid or malformed.")
	}
	var cert *x509.Certificate
	for _, rc := range app.Certificates {
		s256 := sha256.Sum256(rc.Raw)
		s1 := sha1.Sum(rc.Raw)
		if (h.X5tS256 != "" && thumbprintMatches(h.X5tS256, s256[:])) || (h.X5t != "" && thumbprintMatches(h.X5t, s1[:])) {
			cert = rc
		}
	}
	if cert == nil {
		return c.invalidClient(700027, "Client assertion failed signature validation. (Reason - The key was not found., Thumbprint of key used by client: '"+h.X5tS256+h.X5t+"')")
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if !ok || err != nil {
		return c.invalidClient(700027, "Client assertion failed signature validation.")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch h.Alg {
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
	default:
		err = errors.New("unsupported alg")
	}
	if err != nil {
		return c.invalidClient(700027, "Client assertion failed signature validation. (Reason - The provided signature value did not match the expected signature value.)")
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	_ = decodeJSON(parts[1], &claims)
	want := c.s.URL + "/" + c.tenant + "/oauth2/v2.0/token"
	if !audienceIs(claims.Aud, want) {
		return c.invalidClient(700027, "Client assertion contains an invalid audience; expected '"+want+"'.")
	}
	return nil
}

// thumbprintMatches accepts the thumbprint base64url-encoded (RFC 7515) or, as
// MSAL Go sends it, in standard base64.
func thumbprintMatches(got string, sum []byte) bool {
	return got == base64.RawURLEncoding.EncodeToString(sum) || got == base64.StdEncoding.EncodeToString(sum) ||
		strings.EqualFold(got, hexString(sum))
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// verifyFederatedAssertion checks a token from a trusted issuer (here: a
// managed identity token this emulator issued) against the app's federated
// credentials. Entra names which of issuer, subject and audience did not match.
func (c *tokenCall) verifyFederatedAssertion(app *App, assertion string) *oauthError {
	claims, err := c.s.verifySigned(assertion)
	if err != nil {
		return c.invalidClient(700027, "Client assertion failed signature validation. (Reason - "+err.Error()+".)")
	}
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	var issuerKnown, subjectKnown bool
	for _, f := range app.FederatedCredentials {
		if f.Issuer != iss {
			continue
		}
		issuerKnown = true
		if f.Subject != sub {
			continue
		}
		subjectKnown = true
		if audienceIs(claims["aud"], f.Audience) {
			return nil
		}
	}
	const see = " Check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
	switch {
	case !issuerKnown:
		return c.invalidClient(700211, "No matching federated identity record found for presented assertion issuer '"+iss+"'. Please note that the matching is done using a case-sensitive comparison."+see)
	case !subjectKnown:
		return c.invalidClient(700213, "No matching federated identity record found for presented assertion subject '"+sub+"'. Please note that the matching is done using a case-sensitive comparison."+see)
	}
	return c.invalidClient(700212, "No matching federated identity record found for presented assertion audience."+see)
}

func audienceIs(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if v == want {
				return true
			}
		}
	}
	return false
}

func (c *tokenCall) invalidClient(code int, msg string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, name: "invalid_client", code: code, msg: msg}
}

func (c *tokenCall) invalidRequest(code int, msg string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, name: "invalid_request", code: code, msg: msg}
}
