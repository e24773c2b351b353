// deployment.js: what config.json says about this deployment, applied to the pane.
// The Graph routes are the Function App's GRAPH_ALLOWED_ROUTES (both come from the same
// Bicep parameter), so a button the API would refuse with graph_path_forbidden is hidden; and
// apiBaseUrl is where /api calls go (the Function App's own host in the cross-origin mode).

/**
 * routeAllowed says whether one of the allowed "METHOD /path" routes (with {name}
 * placeholders, each standing for one segment) covers a concrete "METHOD /path".
 */
export function routeAllowed(routes, route) {
  const [method, path] = route.split(" ");
  const segs = path.split("/");
  return routes.some((entry) => {
    const [m, p = ""] = entry.trim().split(/\s+/);
    const allowed = p.split("/");
    return m === method && allowed.length === segs.length && allowed.every((s, i) => s === segs[i] || /^\{[^/{}]+\}$/.test(s));
  });
}

/**
 * showAllowedButtons hides the buttons whose data-route the deployment does not allow.
 * Without a list of routes (the local sandbox) every button stays.
 */
export function showAllowedButtons(routes, root = document) {
  if (!Array.isArray(routes)) return;
  for (const button of root.querySelectorAll("[data-route]")) button.hidden = !routeAllowed(routes, button.dataset.route);
}

/** apiFetch is a fetch that sends the pane's /api/... calls to apiBaseUrl instead. */
export function apiFetch(apiBaseUrl = "/api", fetchFn = globalThis.fetch.bind(globalThis)) {
  const base = apiBaseUrl.replace(/\/+$/, "");
  return (url, init) => fetchFn(typeof url === "string" && url.startsWith("/api/") ? base + url.slice("/api".length) : url, init);
}
