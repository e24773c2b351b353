// Key Vault (RBAC mode) holding the Graph token-cache encryption key. The Function App reads it
// through a Key Vault reference resolved with its managed identity; nobody else gets a
// data-plane role from this template.
//
// Secret format, what the handler expects in TOKEN_CACHE_ENCRYPTION_KEY:
// comma-separated <id>:<base64 of 32 bytes>. The first key encrypts, all of them decrypt, so a
// rotation is: prepend a new key, let every instance pick it up, later drop the old one
// (infra/scripts/rotate-cache-key.sh, docs/deploy.md).
param name string
param location string
param tags object
@description('Principal (object) ID of the Function App\'s managed identity.')
param principalId string
param keyName string
@secure()
@description('New secret value; empty leaves the current secret alone.')
param keyValue string
param purgeProtection bool
@description('default, or recover to take back the soft-deleted vault of this name.')
@allowed(['default', 'recover'])
param createMode string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

// Types: Azure/bicep-types-az, generated/keyvault/microsoft.keyvault/2023-07-01/types.md.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    createMode: createMode
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // Key Vault rejects false; leaving it unset is how "off" is said.
    enablePurgeProtection: purgeProtection ? true : null
  }
}

// Declared only when a value is given, so redeploying never overwrites (or rotates) the key.
resource cacheKey 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(keyValue)) {
  parent: vault
  name: keyName
  properties: {
    value: keyValue
    contentType: 'comma-separated <id>:<base64 of 32 bytes>; the first encrypts, all decrypt'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = vault.name
// Versionless: App Service picks up a new version within 24 hours, or at once on a refresh.
output keyUri string = '${vault.properties.vaultUri}secrets/${keyName}'
