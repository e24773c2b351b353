// The storage account: the Functions host's own storage (AzureWebJobsStorage), the package
// container the app runs from, and the Graph token-cache table. Shared-key access is off;
// everything authenticates with Entra ID (the managed identity, or the deploying identity).
param name string
param location string
param tags object
@description('Principal (object) ID of the Function App\'s managed identity.')
param principalId string
param tableName string
param packageContainerName string

var roles = {
  // Identity-based host storage: the host keeps keys, leases and its containers in blobs.
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Identity-based host storage: the host's queues (documented alongside the blob role).
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // The Graph token cache (TOKEN_CACHE_ENDPOINT).
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: packageContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

// Created here so the handler never needs the right to create tables.
resource cacheTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: tableName
}

resource identityRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in items(roles): {
    name: guid(account.id, principalId, role.value)
    scope: account
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

output name string = account.name
output tableEndpoint string = account.properties.primaryEndpoints.table
// No trailing slash: callers append /<blob>.
output packageContainerUrl string = '${account.properties.primaryEndpoints.blob}${packageContainerName}'
