// The add-in's Entra ID app registration, declared with the Microsoft Graph Bicep extension
// (alias in ../bicepconfig.json). It is both the resource the task pane's token is issued for
// (scope access_as_user, pre-authorised for Office) and the client that does On-Behalf-Of for
// Graph, proving itself with the Function App's managed identity as a federated credential.
extension microsoftGraphV1

@description('Tenant-unique, immutable key of the application (Graph upserts by it).')
param uniqueName string
param displayName string
@description('Host name the task pane is served from (the Static Web App\'s default host name).')
param domain string
@description('Principal (object) ID of the managed identity trusted as the app\'s credential.')
param managedIdentityPrincipalId string
param graphScopes array
param preAuthorizedClientIds array

var scopeName = 'access_as_user'
// Stable across deployments: changing a scope's ID would break consent and pre-authorisation.
var scopeId = guid(uniqueName, scopeName)
var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

// Delegated permission names become IDs through Microsoft Graph's own service principal, so
// the parameter stays readable (User.Read, Mail.Read, ...). The resource is read only as the
// lambdas' input: the deployment engine does not allow resource references inside a lambda.
// openid, profile and offline_access are what MSAL's fallback dialog and Nested App
// Authentication sign in with.
var delegatedPermissions = union(['openid', 'profile', 'offline_access'], graphScopes)
var grantedScopes = filter(microsoftGraph.oauth2PermissionScopes, s => contains(delegatedPermissions, s.value))
var requiredResourceAccess = [
  {
    resourceAppId: microsoftGraphAppId
    resourceAccess: map(grantedScopes, s => {
      id: s.id
      type: 'Scope'
    })
  }
]

var api = {
  // v2.0 access tokens: aud is the client ID and the issuer ends in /v2.0 (docs/architecture.md).
  requestedAccessTokenVersion: 2
  oauth2PermissionScopes: [
    {
      id: scopeId
      value: scopeName
      type: 'User'
      isEnabled: true
      adminConsentDisplayName: 'Use the add-in as the signed-in user'
      adminConsentDescription: 'Lets Office call the add-in\'s API, and the API call Microsoft Graph, as the signed-in user.'
      userConsentDisplayName: 'Use the add-in as you'
      userConsentDescription: 'Lets Office call the add-in\'s API, and the API call Microsoft Graph, as you.'
    }
  ]
  preAuthorizedApplications: map(preAuthorizedClientIds, clientId => {
    appId: clientId
    delegatedPermissionIds: [scopeId]
  })
}

var spa = {
  redirectUris: [
    // The fallback authentication dialog (MSAL.js, authorization code with PKCE).
    'https://${domain}/fallbackauthdialog.html'
    // Nested App Authentication: Office brokers the sign-in for this origin.
    'brk-multihub://${domain}'
  ]
}

// Phase 1: the application with everything except its Application ID URI, which must contain
// the appId that Entra ID assigns on creation; a resource cannot reference its own appId.
resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  // Office add-ins with SSO must be multi-tenant.
  signInAudience: 'AzureADMultipleOrgs'
  api: api
  spa: spa
  requiredResourceAccess: requiredResourceAccess
}

// Phase 2: the same application (same uniqueName), upserted again now that its appId exists,
// adding identifierUris = api://<domain>/<appId>, the form Office's manifest <Resource> and
// Entra's "api://<string>/<appId>" rule both accept. The Graph extension upserts with PATCH
// on uniqueName, so this second declaration updates the application created above rather
// than creating another. It repeats the other properties from the same variables, so the
// result is the full intended state whatever the update semantics. Reading app.appId orders
// it after phase 1. Phase 1 never mentions identifierUris, so a redeploy leaves the URI in
// place between the two phases and tokens for it keep working throughout.
resource appWithIdUri 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  api: api
  spa: spa
  requiredResourceAccess: requiredResourceAccess
  identifierUris: [
    'api://${domain}/${app.appId}'
  ]
}

// The enterprise application in this tenant; other tenants get theirs on first consent.
resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

// Secretless On-Behalf-Of: Entra ID accepts a token of the Function App's managed identity
// (issued by this tenant, subject = the identity's object ID, audience
// api://AzureADTokenExchange) as this application's client assertion.
resource managedIdentityCredential 'Microsoft.Graph/applications/federatedIdentityCredentials@v1.0' = {
  name: '${app.uniqueName}/function-app-identity'
  description: 'The Function App\'s user-assigned managed identity (ADDIN_FEDERATED_IDENTITY_CLIENT_ID)'
  issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
  subject: managedIdentityPrincipalId
  audiences: [
    'api://AzureADTokenExchange'
  ]
}

output clientId string = app.appId
output appIdUri string = 'api://${domain}/${app.appId}'
// A misspelt permission name matches nothing: the deploy workflow compares these two lists.
output requestedGraphPermissions array = delegatedPermissions
output grantedGraphPermissions array = map(grantedScopes, s => s.value)
output scopeName string = scopeName
output servicePrincipalId string = servicePrincipal.id
