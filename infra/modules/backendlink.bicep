// Links the Function App as the Static Web App's /api backend ("bring your own functions").
// The platform then proxies https://<static web app>/api/* to the Function App and restricts
// the Function App to traffic coming through the Static Web App. Kept in its own module so the
// cross-origin fallback (backendMode 'cors') can simply leave it out.
param staticWebAppName string
param functionAppId string
param functionAppLocation string

resource staticWebApp 'Microsoft.Web/staticSites@2024-04-01' existing = {
  name: staticWebAppName
}

resource link 'Microsoft.Web/staticSites/linkedBackends@2024-04-01' = {
  parent: staticWebApp
  name: 'functionapp'
  properties: {
    backendResourceId: functionAppId
    region: functionAppLocation
  }
}
