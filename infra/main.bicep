// One environment of the Office add-in SSO backend, deployed into an existing resource group:
// the Function App (Go custom handler), the Static Web App serving the task pane with the
// Function App as its /api backend, the Graph token cache (Table Storage), its encryption key
// (Key Vault), monitoring, and the add-in's Entra app registration (Microsoft Graph extension).
//
// Nothing here holds a shared key or a client secret: the Function App reaches Storage,
// Key Vault and Application Insights with one user-assigned managed identity, and proves
// itself to Entra ID for On-Behalf-Of with that same identity as a federated credential.
//
// Deploy: see docs/deploy.md (the deploy workflow runs what-if, then this template).
targetScope = 'resourceGroup'

@description('Short name of this environment: 2-20 lowercase letters, digits or hyphens. Part of every resource name.')
@minLength(2)
@maxLength(20)
param environmentName string

@description('Region of the Function App, storage, Key Vault and monitoring.')
param location string = resourceGroup().location

// Static Web Apps is offered in a few regions only; the content is served from edges anyway.
@description('Region of the Static Web App resource.')
@allowed(['westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia'])
param staticWebAppLocation string = 'westeurope'

// Static Web Apps documents Consumption, Premium and Dedicated as linked-backend plans, not
// Flex Consumption; when the link is refused the deploy workflow redeploys with 'cors'.
@description('linked: the Function App is the Static Web App\'s /api backend (same origin). cors: no link; the task pane calls the Function App\'s own host name, allowed by CORS for the Static Web App\'s origin.')
@allowed(['linked', 'cors'])
param backendMode string = 'linked'

@description('Maximum Flex Consumption instances.')
@minValue(1)
@maxValue(1000)
param flexMaximumInstanceCount int = 40

@description('Flex Consumption instance memory in MB. The Go handler is small.')
@allowed([512, 2048, 4096])
param flexInstanceMemoryMB int = 512

@description('Display name of the add-in\'s app registration.')
param appDisplayName string = 'Office add-in SSO (${environmentName})'

// What the add-in may call, set once: these two flow to the app settings (GRAPH_SCOPES,
// GRAPH_ALLOWED_ROUTES), the app registration's required permissions and the pane's
// config.json, whose buttons for routes not listed here are hidden. The defaults serve the
// pane's /me and Photo buttons (User.Read covers the user's own photo); Messages needs
// Mail.Read and 'GET /v1.0/me/messages'.
@description('Delegated Microsoft Graph permissions the API may request (GRAPH_SCOPES); also requested by the app registration.')
param graphScopes array = ['User.Read']

@description('METHOD /path pairs graph-proxy forwards (GRAPH_ALLOWED_ROUTES).')
param graphAllowedRoutes array = ['GET /v1.0/me', 'GET /v1.0/me/photo/$value']

@description('Microsoft Graph base URL (GRAPH_BASE_URL); change only for national clouds.')
param graphBaseUrl string = 'https://graph.microsoft.com'

@description('organizations (any work or school tenant) or one tenant ID (ADDIN_TENANT_ID).')
param addinTenantId string = 'organizations'

@description('Tenant IDs allowed to call the API; empty allows all (ADDIN_ALLOWED_TENANTS).')
param allowedTenants array = []

@description('Client IDs allowed as the token\'s azp/appid (ADDIN_ALLOWED_CLIENT_APPS); empty: the Office clients Microsoft documents for SSO pre-authorisation, plus the add-in itself.')
param allowedClientApps array = []

@description('off, amr or acrs:<context id> (ADDIN_MFA_POLICY).')
param mfaPolicy string = 'off'

// 2 (the default): aud is the client ID and the issuer ends in /v2.0 (docs/architecture.md).
// MFA evidence differs by version: v1.0 tokens carry `amr` (ADDIN_MFA_POLICY=amr needs 1),
// v2.0 tokens carry no amr but do carry `acrs` (ADDIN_MFA_POLICY=acrs:<id> works with either).
@description('Access token version Entra ID issues for the add-in\'s API (requestedAccessTokenVersion): 2 (default) or 1.')
@allowed([1, 2])
param accessTokenVersion int = 2

// From Microsoft's "Register an Office Add-in that uses SSO": ea5a67f6-... pre-authorises all
// Office endpoints; the others are the per-platform IDs (Microsoft Office; Office on the web,
// three IDs; Outlook on the web). Teams hosts: put 1fec8e78-bce4-4aaf-ab1b-5451cc387264 and
// 5e3ce6c0-2b1f-4285-8d4b-75ee78787346 in extraPreAuthorizedClientIds.
@description('Office client applications pre-authorised for access_as_user, so Office never shows a consent prompt for the add-in\'s own API. To add clients, use extraPreAuthorizedClientIds.')
param preAuthorizedClientIds array = [
  'ea5a67f6-b6f3-4338-b240-c655ddc3cc8e'
  'd3590ed6-52b3-4102-aeff-aad2292ab01c'
  '93d53678-613d-4013-afc1-62e9e444a0a5'
  '57fb890c-0dab-4253-a5e0-7188c88b2bb4'
  '08e18876-6177-487e-b8b5-cf950c1e598c'
  'bc59ab01-8403-45c6-8796-ac3ef710b3e3'
]

@description('More pre-authorised clients, added to preAuthorizedClientIds (e.g. Teams hosts, or the Azure CLI in a development environment).')
param extraPreAuthorizedClientIds array = []

@description('Table Storage table of the Graph token cache (TOKEN_CACHE_TABLE).')
param tokenCacheTable string = 'graphtokens'

// Empty keeps the secret that is in Key Vault. The deploy workflow passes a freshly generated
// key only when the secret does not exist yet; docs/deploy.md shows how to supply one.
@secure()
@description('Token-cache encryption key(s): comma-separated <id>:<base64 of 32 bytes>, the first encrypts, all decrypt. Empty leaves Key Vault\'s value unchanged.')
param tokenCacheEncryptionKey string = ''

@description('Key Vault purge protection. Recommended; it cannot be turned off once on.')
param keyVaultPurgeProtection bool = true

// A vault deleted with its resource group stays soft-deleted under the same name; the deploy
// workflow redeploys with 'recover' when Key Vault says so.
@description('default, or recover: take back the soft-deleted vault of the same name.')
@allowed(['default', 'recover'])
param keyVaultCreateMode string = 'default'

// Uploading the pane with a deployment token records a provider on the Static Web App, and
// Static Web Apps refuses a later PUT that changes it (Azure/static-web-apps#516); the deploy
// workflow passes the current value back.
@description('The Static Web App\'s current provider (deploy workflow); empty on the first deployment.')
param staticWebAppProvider string = ''

@description('Tags for every resource.')
param tags object = {}

// uniqueString keeps names globally unique but stable for this subscription, group and environment.
var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var names = {
  identity: 'id-${environmentName}-${token}'
  storage: 'st${token}'
  keyVault: 'kv-${token}'
  logAnalytics: 'log-${environmentName}-${token}'
  appInsights: 'appi-${environmentName}-${token}'
  plan: 'plan-${environmentName}-${token}'
  functionApp: 'func-${environmentName}-${token}'
  staticWebApp: 'swa-${environmentName}-${token}'
  appRegistration: 'addinsso-${environmentName}-${token}'
}
// The deploy workflow finds this environment's Key Vault by this tag.
var allTags = union(tags, { 'addinsso-env': environmentName })
var packageContainer = 'app-package'
var cacheKeyName = 'token-cache-encryption-key'

module identity 'modules/identity.bicep' = {
  name: '${environmentName}-identity'
  params: {
    name: names.identity
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: '${environmentName}-monitoring'
  params: {
    workspaceName: names.logAnalytics
    appInsightsName: names.appInsights
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: '${environmentName}-storage'
  params: {
    name: names.storage
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
    tableName: tokenCacheTable
    packageContainerName: packageContainer
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: '${environmentName}-keyvault'
  params: {
    name: names.keyVault
    location: location
    tags: allTags
    principalId: identity.outputs.principalId
    keyName: cacheKeyName
    keyValue: tokenCacheEncryptionKey
    purgeProtection: keyVaultPurgeProtection
    createMode: keyVaultCreateMode
  }
}

module staticWebApp 'modules/staticwebapp.bicep' = {
  name: '${environmentName}-staticwebapp'
  params: {
    name: names.staticWebApp
    location: staticWebAppLocation
    tags: allTags
    provider: staticWebAppProvider
  }
}

module appRegistration 'modules/appregistration.bicep' = {
  name: '${environmentName}-appregistration'
  params: {
    uniqueName: names.appRegistration
    displayName: appDisplayName
    domain: staticWebApp.outputs.defaultHostname
    managedIdentityPrincipalId: identity.outputs.principalId
    graphScopes: graphScopes
    preAuthorizedClientIds: union(preAuthorizedClientIds, extraPreAuthorizedClientIds)
    accessTokenVersion: accessTokenVersion
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: '${environmentName}-functionapp'
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: allTags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    tableEndpoint: storage.outputs.tableEndpoint
    packageContainerUrl: storage.outputs.packageContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    cacheKeyUri: keyVault.outputs.keyUri
    corsOrigin: backendMode == 'cors' ? 'https://${staticWebApp.outputs.defaultHostname}' : ''
    flexMaximumInstanceCount: flexMaximumInstanceCount
    flexInstanceMemoryMB: flexInstanceMemoryMB
    addinClientId: appRegistration.outputs.clientId
    addinAppIdUri: appRegistration.outputs.appIdUri
    addinTenantId: addinTenantId
    allowedTenants: allowedTenants
    allowedClientApps: allowedClientApps
    requiredScope: appRegistration.outputs.scopeName
    mfaPolicy: mfaPolicy
    graphBaseUrl: graphBaseUrl
    graphScopes: graphScopes
    graphAllowedRoutes: graphAllowedRoutes
    tokenCacheTable: tokenCacheTable
  }
}

// Linked: same origin through the Static Web App. CORS fallback: the Function App's own host.
var apiBaseUrl = backendMode == 'linked' ? 'https://${staticWebApp.outputs.defaultHostname}/api' : 'https://${functionApp.outputs.defaultHostname}/api'

// The task pane's config.json, written by the deploy workflow from this output: the pane
// calls apiBaseUrl, asks consent for graphScopes and shows the buttons graphRoutes allow.
var paneConfig = {
  clientId: appRegistration.outputs.clientId
  appIdUri: appRegistration.outputs.appIdUri
  authority: '${environment().authentication.loginEndpoint}${addinTenantId}'
  graphScopes: graphScopes
  graphRoutes: graphAllowedRoutes
  apiBaseUrl: backendMode == 'linked' ? '/api' : apiBaseUrl
}

module backendLink 'modules/backendlink.bicep' = if (backendMode == 'linked') {
  name: '${environmentName}-backendlink'
  params: {
    staticWebAppName: staticWebApp.outputs.name
    functionAppId: functionApp.outputs.id
    functionAppLocation: location
  }
}

// What the workflows need (paneConfig also feeds go run ./manifest/generate).
output resourceGroup string = resourceGroup().name
output tenantId string = tenant().tenantId
output backendMode string = backendMode
output staticWebAppName string = staticWebApp.outputs.name
output staticWebAppDomain string = staticWebApp.outputs.defaultHostname
output functionAppName string = functionApp.outputs.name
output functionAppId string = functionApp.outputs.id
output functionAppHostname string = functionApp.outputs.defaultHostname
output apiBaseUrl string = apiBaseUrl
output clientId string = appRegistration.outputs.clientId
output appIdUri string = appRegistration.outputs.appIdUri
output requestedGraphPermissions array = appRegistration.outputs.requestedGraphPermissions
output grantedGraphPermissions array = appRegistration.outputs.grantedGraphPermissions
output managedIdentityClientId string = identity.outputs.clientId
output keyVaultName string = keyVault.outputs.name
output cacheKeyName string = cacheKeyName
output storageAccountName string = storage.outputs.name
output paneConfig object = paneConfig
