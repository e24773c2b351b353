// Microsoft's Graph JavaScript SDK against graph-proxy, as a task pane would
// use it: the proxy's /api/graph as the SDK's base URL behind an HTTPS front,
// the add-in's token in X-Addin-Authorization (Static Web Apps replaces
// Authorization), and the SDK's own retry handler. Run by sdk_test.go:
//   node sdk.mjs <https base of the front> <JSON of scenario tokens>
import assert from "node:assert/strict";
import {
  Client, BatchRequestContent, BatchResponseContent, PageIterator,
  RetryHandler, RetryHandlerOptions, HTTPMessageHandler, GraphError,
} from "@microsoft/microsoft-graph-client";

const [front, tokensJSON] = process.argv.slice(2);
const tokens = JSON.parse(tokensJSON);
const host = new URL(front).host;

/** AddinAuthentication puts the add-in's token where graph-proxy reads it, and records what was asked. */
class AddinAuthentication {
  constructor(token, seen) { this.token = token; this.seen = seen; }
  async execute(context) {
    this.seen.push(typeof context.request === "string" ? context.request : context.request.url);
    const headers = (context.options.headers ??= {});
    if (headers instanceof Headers) headers.set("X-Addin-Authorization", "Bearer " + this.token);
    else headers["X-Addin-Authorization"] = "Bearer " + this.token;
    return this.nextMiddleware.execute(context);
  }
  setNext(next) { this.nextMiddleware = next; }
}

function client(token, seen = []) {
  const auth = new AddinAuthentication(token, seen);
  const retry = new RetryHandler(new RetryHandlerOptions(1, 3)); // at most 3 retries, 1 s minimum
  auth.setNext(retry);
  retry.setNext(new HTTPMessageHandler());
  // The proxy's paths are given whole (/api/graph/v1.0/...), so the SDK
  // resolves the proxy's relative @odata.nextLink the same way: version "".
  return Client.initWithMiddleware({ middleware: auth, baseUrl: front, defaultVersion: "", customHosts: new Set([host.split(":")[0]]) });
}
const api = "/api/graph/v1.0";

const results = {};
async function scenario(name, fn) {
  const started = Date.now();
  await fn();
  results[name] = Date.now() - started;
}

await scenario("me", async () => {
  const me = await client(tokens.alice.token).api(api + "/me").get();
  assert.equal(me.id, tokens.alice.oid);
});

await scenario("photo", async () => {
  const photo = await client(tokens.alice.token).api(api + "/me/photo/$value").responseType("arraybuffer").get();
  const bytes = new Uint8Array(photo);
  assert.ok(bytes.length > 100, "photo too small");
  assert.deepEqual([...bytes.slice(0, 2)], [0xff, 0xd8], "not a JPEG");
});

await scenario("paged list", async () => {
  const seen = [];
  const c = client(tokens.alice.token, seen);
  const first = await c.api(api + "/me/messages").top(3).get();
  const ids = [];
  // PageIterator follows @odata.nextLink with the same client: it must lead
  // back through the proxy, never to Graph itself.
  await new PageIterator(c, first, (m) => { ids.push(m.id); return true; }).iterate();
  assert.ok(seen.length >= 3, `${seen.length} requests, want three pages or more`);
  for (const url of seen) assert.ok(url.startsWith(front + "/api/graph/"), "a page request left the proxy: " + url);
  assert.equal(ids.length, tokens.alice.messages, `${ids.length} messages across pages`);
  assert.equal(new Set(ids).size, ids.length, "a message came twice");
});

await scenario("batch with a refused request", async () => {
  const c = client(tokens.alice.token);
  const batch = new BatchRequestContent([
    // The SDK keeps the path after the host: the inner urls are relative to the version, as Graph wants.
    { id: "1", request: new Request(front + "/me", { method: "GET" }) },
    { id: "2", request: new Request(front + "/users", { method: "GET" }) },
    { id: "3", request: new Request(front + "/me/messages?$top=2", { method: "GET" }) },
  ]);
  const content = await batch.getContent();
  const answer = new BatchResponseContent(await c.api(api + "/$batch").post(content));
  assert.equal(answer.getResponseById("1").status, 200);
  assert.equal(answer.getResponseById("2").status, 403);
  const refused = await answer.getResponseById("2").json();
  assert.equal(refused.error.code, "graph_path_forbidden");
  assert.equal(answer.getResponseById("3").status, 200);
});

await scenario("429 recovered by the retry handler", async () => {
  const me = await client(tokens.throttled.token).api(api + "/me").get();
  assert.equal(me.id, tokens.throttled.oid);
});

await scenario("claims challenge read from GraphError", async () => {
  await assert.rejects(client(tokens.cae.token).api(api + "/me").get(), (err) => {
    assert.ok(err instanceof GraphError, "not a GraphError: " + err);
    assert.equal(err.statusCode, 401);
    assert.equal(err.code, "claims_challenge");
    assert.ok(err.requestId, "no request ID");
    return true;
  });
});

console.log(JSON.stringify(results));
