// The one user-assigned managed identity the Function App runs as. User-assigned rather than
// system-assigned because its client ID must be known before the app exists (app settings,
// the app registration's federated credential) and survives a re-created app.
param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
