package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/addinsso/addinsso/handler/config"
)

// checkRegistration compares the registration with the settings and the
// add-in's domain, in the order a request meets them: getAccessToken (Office
// or NAA), validate, the exchange.
func checkRegistration(cfg *config.Config, domain string, reg *registration, now time.Time, r *report) {
	app := &reg.app
	checkAudience(cfg, app, r)
	checkAppIDURI(cfg, app, r)
	scope := checkScope(cfg, app, r)
	checkPreAuthorized(app, scope, r)
	checkRedirects(domain, app, r)
	checkAllowedClients(cfg, app, r)
	checkTokenVersion(cfg, app, r)
	checkGraphPermissions(cfg, reg, r)
	checkCredential(cfg, reg, now, r)
}

func checkAudience(cfg *config.Config, app *application, r *report) {
	single := app.SignInAudience == "AzureADMyOrg"
	switch {
	case single && (cfg.TenantID == config.MultiTenant || cfg.TenantID == config.Common):
		r.add(Finding{ID: "registration.single-tenant", Severity: Error,
			What:    fmt.Sprintf("signInAudience is AzureADMyOrg (this tenant only) but ADDIN_TENANT_ID=%s accepts every tenant", cfg.TenantID),
			Symptom: "13007 at getAccessToken for users of other tenants (AADSTS700016: application not found in their directory); Office's SSO expects a multi-tenant app",
			Fix:     "portal: Authentication > Supported account types > Accounts in any organizational directory (signInAudience AzureADMultipleOrgs); or set ADDIN_TENANT_ID to your tenant's ID"})
	case !single && cfg.TenantID != config.MultiTenant && cfg.TenantID != config.Common:
		r.add(Finding{ID: "registration.multi-tenant", Severity: Warning,
			What:    fmt.Sprintf("signInAudience is %s but ADDIN_TENANT_ID names one tenant (%s)", app.SignInAudience, cfg.TenantID),
			Symptom: "users of other tenants get a token at getAccessToken, then tenant_not_allowed (403) at validate",
			Fix:     "intended for one organization: fine; otherwise set ADDIN_TENANT_ID=organizations (and ADDIN_ALLOWED_TENANTS to bound it)"})
	}
}

func checkAppIDURI(cfg *config.Config, app *application, r *report) {
	switch {
	case cfg.AppIDURI != "" && !slices.Contains(app.IdentifierURIs, cfg.AppIDURI):
		r.add(Finding{ID: "registration.app-id-uri", Severity: Error,
			What:    fmt.Sprintf("ADDIN_APP_ID_URI %s is not among the registration's identifierUris %v", cfg.AppIDURI, app.IdentifierURIs),
			Symptom: "13004 (invalid resource; AADSTS500011) at getAccessToken for manifests written from the setting; v1.0 tokens for the real URI get invalid_token (audience) at validate",
			Fix:     "set ADDIN_APP_ID_URI to the Application ID URI the portal shows (Expose an API), or add it there; then write the manifests again"})
	case cfg.AppIDURI == "" && app.tokenVersion() == "1.0":
		r.add(Finding{ID: "registration.app-id-uri", Severity: Error,
			What:    fmt.Sprintf("the registration issues v1.0 tokens, whose audience is the App ID URI %v, and ADDIN_APP_ID_URI is not set", app.IdentifierURIs),
			Symptom: "invalid_token (audience) at validate for every token",
			Fix:     "set ADDIN_APP_ID_URI to the Application ID URI (Expose an API), or requestedAccessTokenVersion to 2 in the manifest editor"})
	}
}

// checkScope finds the scope the API requires among the exposed ones.
func checkScope(cfg *config.Config, app *application, r *report) *permissionScope {
	for i, s := range app.API.OAuth2PermissionScopes {
		if s.Value == cfg.RequiredScope && s.IsEnabled {
			return &app.API.OAuth2PermissionScopes[i]
		}
	}
	r.add(Finding{ID: "registration.scope", Severity: Error,
		What:    fmt.Sprintf("the registration exposes no enabled scope %q (ADDIN_REQUIRED_SCOPE)", cfg.RequiredScope),
		Symptom: "13007 at getAccessToken (AADSTS65005: the scope does not exist on the resource); a token without it gets insufficient_scope at validate",
		Fix:     "portal: Expose an API > Add a scope " + cfg.RequiredScope + " (who can consent: admins and users), or npm run register"})
	return nil
}

func checkPreAuthorized(app *application, scope *permissionScope, r *report) {
	if scope == nil {
		return // registration.scope says it
	}
	var missing []string
	for _, c := range config.OfficeClientApps {
		if !preAuthorized(app, c, scope.ID) {
			missing = append(missing, c)
		}
	}
	if preAuthorized(app, allOfficeApps, scope.ID) || len(missing) == 0 {
		return
	}
	sev, what := Warning, fmt.Sprintf("some Office clients are not pre-authorised for %s: %s", scope.Value, strings.Join(missing, ", "))
	if len(missing) == len(config.OfficeClientApps) {
		sev, what = Error, "no Office client is pre-authorised for "+scope.Value
	}
	r.add(Finding{ID: "registration.preauthorized", Severity: sev, What: what,
		Symptom: "13007 at getAccessToken in the Office hosts left out (AADSTS65001: Office may not consent to the add-in's scope)",
		Fix:     "portal: Expose an API > Add a client application " + allOfficeApps + " (all Microsoft Office application endpoints) for " + scope.Value})
}

func preAuthorized(app *application, client, scopeID string) bool {
	for _, p := range app.API.PreAuthorized {
		if strings.EqualFold(p.AppID, client) && slices.Contains(p.DelegatedPermissionIDs, scopeID) {
			return true
		}
	}
	return false
}

func checkRedirects(domain string, app *application, r *report) {
	if naa := "brk-multihub://" + domain; !slices.Contains(app.SPA.RedirectURIs, naa) {
		r.add(Finding{ID: "registration.naa-redirect", Severity: Error,
			What:    "spa.redirectUris lacks " + naa + " (Nested App Authentication)",
			Symptom: "AADSTS50011 (redirect URI mismatch) at the pane's token request through Nested App Authentication (MSAL's acquireTokenSilent/Popup)",
			Fix:     "portal: Authentication > Single-page application > Add URI " + naa})
	}
	if dialog := "https://" + domain + "/fallbackauthdialog.html"; !slices.Contains(app.SPA.RedirectURIs, dialog) {
		r.add(Finding{ID: "registration.dialog-redirect", Severity: Error,
			What:    "spa.redirectUris lacks " + dialog + " (the fallback consent and sign-in dialog)",
			Symptom: "AADSTS50011 (redirect URI mismatch) in the fallback dialog, so consent_required and 13012/13013 fallbacks cannot recover",
			Fix:     "portal: Authentication > Single-page application > Add URI " + dialog + " (a Web platform URI answers AADSTS9002326 instead)"})
	}
}

// checkAllowedClients: every client that can get a token for the API (the
// pre-authorised Office clients, the add-in itself with NAA) must pass
// ADDIN_ALLOWED_CLIENT_APPS.
func checkAllowedClients(cfg *config.Config, app *application, r *report) {
	var clients []string
	for _, p := range app.API.PreAuthorized {
		if strings.EqualFold(p.AppID, allOfficeApps) {
			clients = append(clients, config.OfficeClientApps...)
		} else {
			clients = append(clients, strings.ToLower(p.AppID))
		}
	}
	clients = append(clients, cfg.ClientID)
	var refused []string
	for _, c := range clients {
		if !slices.Contains(cfg.AllowedClientApps, c) && !slices.Contains(refused, c) {
			refused = append(refused, c)
		}
	}
	if len(refused) > 0 {
		r.add(Finding{ID: "settings.allowed-client-apps", Severity: Error,
			What:    "ADDIN_ALLOWED_CLIENT_APPS leaves out clients the registration lets get tokens: " + strings.Join(refused, ", "),
			Symptom: "client_not_allowed (403) at validate for tokens those clients ask for (azp in v2.0, appid in v1.0)",
			Fix:     "add them to ADDIN_ALLOWED_CLIENT_APPS, or leave it empty (Office's documented clients and ADDIN_CLIENT_ID)"})
	}
}

func checkTokenVersion(cfg *config.Config, app *application, r *report) {
	if cfg.MFA.Mode == config.MFAAMR && app.tokenVersion() == "2.0" {
		r.add(Finding{ID: "registration.token-version-mfa", Severity: Error,
			What:    "ADDIN_MFA_POLICY=amr, but the registration issues v2.0 tokens (requestedAccessTokenVersion 2), which carry no amr",
			Symptom: "server_misconfigured at validate for every token",
			Fix:     "use ADDIN_MFA_POLICY=acrs:<context id> or Conditional Access alone (works with v2.0), or set requestedAccessTokenVersion to 1 in the manifest editor (and ADDIN_APP_ID_URI)"})
	}
}

// checkGraphPermissions: each GRAPH_SCOPES scope must be a required
// permission (admin consent grants only those) and consented tenant-wide.
func checkGraphPermissions(cfg *config.Config, reg *registration, r *report) {
	ids := map[string]string{} // Graph's delegated permission ID -> name
	for _, s := range reg.graphSP.OAuth2PermissionScopes {
		ids[s.ID] = s.Value
	}
	var required []string
	for _, rra := range reg.app.RequiredResourceAccess {
		if rra.ResourceAppID != graphAppID {
			continue
		}
		for _, ra := range rra.ResourceAccess {
			if ra.Type == "Scope" {
				required = append(required, strings.ToLower(ids[ra.ID]))
			}
		}
	}
	var consented []string
	for _, g := range reg.grants {
		if g.ConsentType == "AllPrincipals" && strings.EqualFold(g.ResourceID, reg.graphSP.ID) {
			consented = append(consented, strings.Fields(strings.ToLower(g.Scope))...)
		}
	}
	var notRequired, notConsented []string
	for _, s := range cfg.GraphScopes {
		if !slices.Contains(required, strings.ToLower(s)) {
			notRequired = append(notRequired, s)
		} else if !slices.Contains(consented, strings.ToLower(s)) {
			notConsented = append(notConsented, s)
		}
	}
	if len(notRequired) > 0 {
		r.add(Finding{ID: "registration.graph-permissions", Severity: Error,
			What:    "GRAPH_SCOPES not among the registration's Microsoft Graph permissions (requiredResourceAccess): " + strings.Join(notRequired, ", "),
			Symptom: "AADSTS65001 at the exchange (consent_required) for every user, even after admin consent, which grants only the listed permissions",
			Fix:     "portal: API permissions > Add a permission > Microsoft Graph > Delegated: " + strings.Join(notRequired, ", ") + "; then grant admin consent"})
	}
	if len(notConsented) > 0 {
		what := "GRAPH_SCOPES not consented for the whole tenant: " + strings.Join(notConsented, ", ")
		if reg.sp == nil {
			what = "the app has no service principal (enterprise application) in this tenant, so no one has consented to " + strings.Join(notConsented, ", ")
		}
		r.add(Finding{ID: "registration.graph-consent", Severity: Warning, What: what,
			Symptom: "AADSTS65001 at the exchange (consent_required: the pane opens the consent dialog for each user); AADSTS90094 (admin_consent_required) where users may not consent; 13012 with forMSGraphAccess",
			Fix:     "as an admin: portal: API permissions > Grant admin consent, or open https://login.microsoftonline.com/<tenant>/adminconsent?client_id=" + cfg.ClientID})
	}
}

// checkCredential checks the credential the settings use to prove the app
// to Entra at the exchange.
func checkCredential(cfg *config.Config, reg *registration, now time.Time, r *report) {
	switch c := cfg.Credential; {
	case c.Secret != "":
		checkSecret(c.Secret, &reg.app, now, r)
	case c.FederatedIdentityClientID != "":
		checkFederated(cfg, reg, r)
	}
}

func checkSecret(secret string, app *application, now time.Time, r *report) {
	for _, p := range app.PasswordCredentials {
		if p.Hint == "" || !strings.HasPrefix(secret, p.Hint) {
			continue
		}
		switch left := p.EndDateTime.Sub(now); {
		case left <= 0:
			r.add(Finding{ID: "registration.secret-expired", Severity: Error,
				What:    fmt.Sprintf("ADDIN_CLIENT_SECRET (%s…, %q) expired on %s", p.Hint, p.DisplayName, p.EndDateTime.Format(time.DateOnly)),
				Symptom: "AADSTS7000222 (client secret expired) at the exchange: server_misconfigured on every exchange",
				Fix:     "az ad app credential reset --id <ADDIN_CLIENT_ID> --append, put the new secret in ADDIN_CLIENT_SECRET (or npm run register); production uses the managed identity instead"})
		case left < secretWarning:
			r.add(Finding{ID: "registration.secret-expiring", Severity: Warning,
				What:    fmt.Sprintf("ADDIN_CLIENT_SECRET (%s…, %q) expires on %s, in %d days", p.Hint, p.DisplayName, p.EndDateTime.Format(time.DateOnly), int(left.Hours()/24)),
				Symptom: "from then on, AADSTS7000222 (client secret expired) at the exchange: server_misconfigured",
				Fix:     "az ad app credential reset --id <ADDIN_CLIENT_ID> --append, and put the new secret in ADDIN_CLIENT_SECRET before then"})
		}
		return
	}
	r.add(Finding{ID: "registration.secret-unknown", Severity: Error,
		What:    "ADDIN_CLIENT_SECRET starts like none of the registration's client secrets (passwordCredentials hint)",
		Symptom: "AADSTS7000215 (invalid client secret) at the exchange: server_misconfigured on every exchange",
		Fix:     "copy the secret's Value (not its ID) into ADDIN_CLIENT_SECRET, or make a new one: az ad app credential reset --id <ADDIN_CLIENT_ID> --append"})
}

func checkFederated(cfg *config.Config, reg *registration, r *report) {
	mi := cfg.Credential.FederatedIdentityClientID
	issuerPrefix := cfg.AuthorityHost + "/"
	var trusted []federatedCredential
	for _, f := range reg.fics {
		if slices.Contains(f.Audiences, tokenExchangeAudience) && strings.HasPrefix(f.Issuer, issuerPrefix) && strings.HasSuffix(f.Issuer, "/v2.0") {
			trusted = append(trusted, f)
		}
	}
	fix := "az identity show --ids <the identity> --query principalId, then: portal: Certificates & secrets > Federated credentials > Managed identity (subject = that principal ID, audience " + tokenExchangeAudience + "), as infra/ deploys it"
	switch {
	case reg.miPrincipal == "" && len(trusted) == 0:
		r.add(Finding{ID: "registration.federated-credential", Severity: Error,
			What:    "ADDIN_FEDERATED_IDENTITY_CLIENT_ID is set, but the registration has no federated credential from " + issuerPrefix + "<tenant>/v2.0 for " + tokenExchangeAudience,
			Symptom: "AADSTS70021 (no matching federated identity record) at the exchange: server_misconfigured",
			Fix:     fix})
	case reg.miPrincipal == "":
		r.add(Finding{ID: "registration.federated-credential-unverified", Severity: Warning,
			What:    fmt.Sprintf("could not read managed identity %s's principal ID (%v), so the federated credential's subject is unchecked", mi, reg.miErr),
			Symptom: "if the subject is not that principal ID: AADSTS70021 at the exchange",
			Fix:     "compare the subject with: az identity list --query \"[?clientId=='" + mi + "'].principalId\""})
	case !slices.ContainsFunc(trusted, func(f federatedCredential) bool { return strings.EqualFold(f.Subject, reg.miPrincipal) }):
		r.add(Finding{ID: "registration.federated-credential", Severity: Error,
			What:    fmt.Sprintf("no federated credential has subject %s, the principal ID of managed identity %s (ADDIN_FEDERATED_IDENTITY_CLIENT_ID)", reg.miPrincipal, mi),
			Symptom: "AADSTS70021 (no matching federated identity record) at the exchange: server_misconfigured",
			Fix:     fix})
	}
}
