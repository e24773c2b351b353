// theme.js: Fluent 2's look. It loads Microsoft's Fluent web components and
// design tokens (lib/, copied from node_modules by `make pane`; no bundler) and
// applies the light or dark theme: Office's theme when the host gives one,
// else the system's. The tokens are CSS custom properties on the document
// (a constructable stylesheet, which the CSP allows), read by taskpane.css too.

const FLUENT = "./lib/fluent/web-components.min.js";
const TOKENS = "./lib/fluent-tokens/index.js";

let fluent;

/** loadFluent defines the fluent-* elements once; the pane stays usable (plain) if it fails. */
export async function loadFluent() {
  fluent ??= Promise.all([import(FLUENT), import(TOKENS)]);
  return fluent;
}

/**
 * isDark says whether a theme is dark: Office's officeTheme (its body
 * background's luminance), else the system's preference.
 */
export function isDark(officeTheme, matchMedia = globalThis.matchMedia) {
  const bg = officeTheme && officeTheme.bodyBackgroundColor;
  const rgb = /^#?([0-9a-f]{6})$/i.exec(bg || "");
  if (rgb) {
    const n = parseInt(rgb[1], 16);
    const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
  }
  return Boolean(matchMedia && matchMedia("(prefers-color-scheme: dark)").matches);
}

/** applyTheme sets Fluent's light or dark theme on the document. */
export async function applyTheme(officeTheme) {
  const [components, tokens] = await loadFluent();
  const dark = isDark(officeTheme);
  components.setTheme(dark ? tokens.webDarkTheme : tokens.webLightTheme);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}
