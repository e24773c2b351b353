// Microsoft's own MSAL Node against the Entra ID emulator: a confidential
// client declaring the cp1 capability does On-Behalf-Of, as a middle tier
// would. Run by msal_test.go:
//   node msal.mjs <JSON: authority, clientId, secret, scopes, scenarios>
// Each scenario is {assertion, claims?, again?}; the script prints, per
// scenario, what MSAL Node reports (its result, or its error's class and
// fields; with again, also for the same request made again at once by the same
// client), and the Go test judges it.
import { ConfidentialClientApplication, LogLevel } from "@azure/msal-node";

const input = JSON.parse(process.argv[2]);
const host = new URL(input.authority).host;

const results = {};
for (const [name, scenario] of Object.entries(input.scenarios)) {
  // A new client per scenario: no cached token, no throttling state from another.
  const cca = new ConfidentialClientApplication({
    auth: {
      clientId: input.clientId,
      clientSecret: input.secret,
      authority: input.authority,
      knownAuthorities: [host], // trusted as is: no instance discovery at Microsoft
      clientCapabilities: ["CP1"],
    },
    system: { loggerOptions: { logLevel: LogLevel.Error, loggerCallback: (_, m) => console.error(m) } },
  });
  const request = {
    oboAssertion: scenario.assertion,
    scopes: input.scopes,
    ...(scenario.claims ? { claims: scenario.claims } : {}),
  };
  results[name] = await report(cca, request);
  if (scenario.again) results[name].again = await report(cca, request);
}

async function report(cca, request) {
  try {
    const r = await cca.acquireTokenOnBehalfOf(request);
    return {
      accessToken: r.accessToken,
      scopes: r.scopes,
      tokenType: r.tokenType,
      expiresInSeconds: Math.round((r.expiresOn.getTime() - Date.now()) / 1000),
      fromCache: r.fromCache,
    };
  } catch (e) {
    return {
      error: {
        name: e.name,
        errorCode: e.errorCode,
        subError: e.subError,
        claims: e.claims,
        errorNo: e.errorNo,
        correlationId: e.correlationId,
        errorMessage: e.errorMessage,
      },
    };
  }
}
console.log(JSON.stringify(results));
