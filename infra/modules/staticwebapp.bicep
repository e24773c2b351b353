// The Static Web App serving the task pane, its fallback dialog and manifest. Standard SKU:
// linked backends need it. Content is uploaded by the deploy workflow with a deployment token
// fetched at run time, so no repository is connected here.
param name string
param location string
param tags object
@description('The provider recorded by the last content upload; empty on the first deployment.')
param provider string

// Types: Azure/bicep-types-az, generated/web/microsoft.web/2024-04-01/types.md (StaticSite.provider).
resource site 'Microsoft.Web/staticSites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    allowConfigFileUpdates: true
    // Preview environments would serve the pane on host names the app registration does not
    // list as redirect URIs; keep one production environment.
    stagingEnvironmentPolicy: 'Disabled'
    // Static Web Apps refuses a PUT that changes the provider (Azure/static-web-apps#516).
    provider: empty(provider) ? null : provider
  }
}

output name string = site.name
output defaultHostname string = site.properties.defaultHostname
