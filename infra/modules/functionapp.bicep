// The Function App running the Go custom handler on Linux, as the user-assigned identity.
// Its app settings are the handler's configuration (handler/config: config.Settings, checked
// against this file by infra/infra_test.go) plus the Functions host's own.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param tableEndpoint string
@description('Blob container the Flex Consumption platform deploys packages to.')
param packageContainerUrl string
param appInsightsConnectionString string
param cacheKeyUri string
@description('Origin allowed by CORS (cross-origin fallback); empty when the Static Web App proxies /api.')
param corsOrigin string
param flexMaximumInstanceCount int
param flexInstanceMemoryMB int
param addinClientId string
param addinAppIdUri string
param addinTenantId string
param allowedTenants array
param allowedClientApps array
param requiredScope string
param mfaPolicy string
param graphBaseUrl string
param graphScopes array
param graphAllowedRoutes array
param tokenCacheTable string

// Entra's host without the trailing slash environment() gives (ENTRA_AUTHORITY_HOST is a bare origin).
var loginEndpoint = environment().authentication.loginEndpoint
var authorityHost = endsWith(loginEndpoint, '/') ? substring(loginEndpoint, 0, length(loginEndpoint) - 1) : loginEndpoint

// The handler's settings, one key per config.Settings entry the Azure deployment uses.
// Deliberately absent (see infra_test.go): FUNCTIONS_CUSTOMHANDLER_PORT, which the host sets on
// every start, and the credentials and store that are alternatives to the managed identity
// (ADDIN_CLIENT_SECRET, ADDIN_CLIENT_CERTIFICATE_PATH, TOKEN_CACHE_CONNECTION_STRING): the
// handler refuses more than one credential or more than one store.
var handlerSettings = {
  ADDIN_CLIENT_ID: addinClientId
  ADDIN_APP_ID_URI: addinAppIdUri
  ADDIN_TENANT_ID: addinTenantId
  ADDIN_ALLOWED_TENANTS: join(allowedTenants, ',')
  ADDIN_REQUIRED_SCOPE: requiredScope
  ADDIN_ALLOWED_CLIENT_APPS: join(allowedClientApps, ',')
  ADDIN_MFA_POLICY: mfaPolicy
  // Secretless On-Behalf-Of: the app registration trusts this identity (federated credential).
  ADDIN_FEDERATED_IDENTITY_CLIENT_ID: identityClientId
  ENTRA_AUTHORITY_HOST: authorityHost
  GRAPH_BASE_URL: graphBaseUrl
  GRAPH_SCOPES: join(graphScopes, ' ')
  GRAPH_ALLOWED_ROUTES: join(graphAllowedRoutes, ', ')
  // Table Storage reached with the managed identity; no connection string exists.
  TOKEN_CACHE_ENDPOINT: tableEndpoint
  TOKEN_CACHE_TABLE: tokenCacheTable
  // Resolved by App Service with keyVaultReferenceIdentity (below); the value never appears here.
  TOKEN_CACHE_ENCRYPTION_KEY: '@Microsoft.KeyVault(SecretUri=${cacheKeyUri})'
}

// The Functions host's settings: identity-based host storage and telemetry, all with the
// user-assigned identity (named by client ID because the app has no system identity).
var hostSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // Azure SDK credentials (azidentity) pick the user-assigned identity by this variable.
  AZURE_CLIENT_ID: identityClientId
}

// Flex Consumption takes the runtime and the package from functionAppConfig (below), so
// FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION and WEBSITE_RUN_FROM_PACKAGE are
// absent: Flex rejects them. It also needs no content share (WEBSITE_CONTENT*), which
// would require a shared key.
var appSettings = union(hostSettings, handlerSettings)

// Where the platform keeps the deployed package, how it scales, which runtime it starts.
var flexConfig = {
  deployment: {
    storage: {
      type: 'blobContainer'
      value: packageContainerUrl
      authentication: {
        type: 'UserAssignedIdentity'
        userAssignedIdentityResourceId: identityId
      }
    }
  }
  scaleAndConcurrency: {
    maximumInstanceCount: flexMaximumInstanceCount
    instanceMemoryMB: flexInstanceMemoryMB
  }
  // Custom handler: the host starts host.json's defaultExecutablePath (the Go binary).
  runtime: {
    name: 'custom'
    version: '1.0'
  }
}

// Cross-origin fallback only: the task pane's origin may call the Function App directly.
var corsSettings = {
  allowedOrigins: [
    corsOrigin
  ]
  supportCredentials: false
}

// Types: Azure/bicep-types-az, generated/web/microsoft.web/2024-04-01/types.md.
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    reserved: true
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      cors: empty(corsOrigin) ? null : corsSettings
      appSettings: [
        for setting in items(appSettings): {
          name: setting.key
          value: setting.value
        }
      ]
    }
    functionAppConfig: flexConfig
  }
}

// Deployments authenticate with Entra ID (az CLI, the workflow's OpenID Connect login); the
// publishing user name and password stay off.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostname string = site.properties.defaultHostName
