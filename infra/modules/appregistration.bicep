// The add-in's Entra ID app registration, declared with the Microsoft Graph Bicep extension
// (alias in ../bicepconfig.json). It is both the resource the task pane's token is issued for
// (scope access_as_user, pre-authorised for Office) and the client that does On-Behalf-Of for
// Graph, proving itself with the Function App's managed identity as a federated credential.
//
// Two requests, because Graph refuses api.preAuthorizedApplications naming a scope that the
// same request defines ("delegatedPermissionIds has a Permission Id that cannot be found";
// microsoftgraph/microsoft-graph-docs#12675, microsoft-graph-docs-contrib#1395: define the scope
// in a separate request first): this file creates (or updates) the application
// with its scope; appregistration-complete.bicep, a module that can only start once this
// application's appId exists, adds the pre-authorisation and the Application ID URI, then the
// service principal and the federated credential.
// Types: microsoftgraph/msgraph-bicep-types, generated/microsoftgraph/microsoft.graph/v1.0/1.0.0/types.md.
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
@description('Access token version Entra ID issues for this API (api.requestedAccessTokenVersion).')
@allowed([1, 2])
param accessTokenVersion int

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

// No preAuthorizedApplications here (see the top of this file). On a redeploy the scope exists
// already; should Graph replace `api` whole on this request, the pre-authorisation is gone only
// until the second request, moments later, sends it again.
var api = {
  requestedAccessTokenVersion: accessTokenVersion
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
}

var spa = {
  redirectUris: [
    // The fallback authentication dialog (MSAL.js, authorization code with PKCE).
    'https://${domain}/fallbackauthdialog.html'
    // Nested App Authentication: Office brokers the sign-in for this origin.
    'brk-multihub://${domain}'
  ]
}

// First request: the application and its scope. Its appId, assigned by Entra ID on creation,
// is what the Application ID URI needs, and reading it orders the module below after this.
resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  // Office add-ins with SSO must be multi-tenant.
  signInAudience: 'AzureADMultipleOrgs'
  api: api
  spa: spa
  requiredResourceAccess: requiredResourceAccess
}

module complete 'appregistration-complete.bicep' = {
  name: '${deployment().name}-complete'
  params: {
    uniqueName: app.uniqueName
    displayName: displayName
    appId: app.appId
    domain: domain
    api: api
    spa: spa
    requiredResourceAccess: requiredResourceAccess
    preAuthorizedApplications: map(preAuthorizedClientIds, clientId => {
      appId: clientId
      delegatedPermissionIds: [scopeId]
    })
    managedIdentityPrincipalId: managedIdentityPrincipalId
  }
}

output clientId string = complete.outputs.clientId
output appIdUri string = complete.outputs.appIdUri
// A misspelt permission name matches nothing: the deploy workflow compares these two lists.
output requestedGraphPermissions array = delegatedPermissions
output grantedGraphPermissions array = map(grantedScopes, s => s.value)
output scopeName string = scopeName
output servicePrincipalId string = complete.outputs.servicePrincipalId
