// Second request for the add-in's application (appregistration.bicep made the first): the
// same uniqueName, so the Graph extension's upsert updates that application, now that its
// scope exists and may be pre-authorised, and its appId is known for the Application ID URI.
// The service principal and the federated credential hang off this declaration, so they are
// made only once the application is complete.
// Types: microsoftgraph/msgraph-bicep-types, generated/microsoftgraph/microsoft.graph/v1.0/1.0.0/types.md.
extension microsoftGraphV1

param uniqueName string
param displayName string
@description('The appId the first request got from Entra ID.')
param appId string
param domain string
param api object
param spa object
param requiredResourceAccess array
@description('Client applications pre-authorised for the scope the first request defined.')
param preAuthorizedApplications array
param managedIdentityPrincipalId string

// api://<domain>/<appId>: the form Office's manifest <Resource> and Entra's
// "api://<string>/<appId>" rule both accept.
var appIdUri = 'api://${domain}/${appId}'

// Everything the first request sent, repeated, so the result is the whole intended state.
resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  api: union(api, {
    preAuthorizedApplications: preAuthorizedApplications
  })
  spa: spa
  requiredResourceAccess: requiredResourceAccess
  identifierUris: [
    appIdUri
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
output appIdUri string = appIdUri
output servicePrincipalId string = servicePrincipal.id
