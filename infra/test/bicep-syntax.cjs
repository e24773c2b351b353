// Syntax check for Bicep files with the tree-sitter-bicep grammar (WebAssembly build, run
// by web-tree-sitter), because no Bicep compiler runs here; the deploy workflow's
// `az bicep build` is the real compile.
//
// The grammar predates the `extension` statement (Bicep's way to load the Microsoft Graph
// extension), so lines that are exactly `extension <alias>` are blanked (same length, so
// positions stay right) and reported back; the Go test asserts that nothing else was
// blanked. Everything else is parsed as written.
//
// Usage: node infra/test/bicep-syntax.cjs FILE...
// Prints one JSON array: [{file, blanked: [{line, text}], errors: [{line, column, text}]}].
'use strict';

const fs = require('node:fs');
const Parser = require('web-tree-sitter');

const extensionLine = /^extension\s+[A-Za-z_][A-Za-z0-9_]*\s*$/;

function blankExtensions(source) {
  const blanked = [];
  const lines = source.split('\n').map((line, i) => {
    const text = line.replace(/\r$/, '');
    if (!extensionLine.test(text)) return line;
    blanked.push({ line: i + 1, text: text.trim() });
    return ' '.repeat(line.length);
  });
  return { text: lines.join('\n'), blanked };
}

// errors lists every ERROR node and every node the parser had to invent (MISSING).
function errors(node, source, out = []) {
  if (node.isError || node.isMissing) {
    out.push({
      line: node.startPosition.row + 1,
      column: node.startPosition.column + 1,
      text: node.isMissing ? `missing ${node.type}` : source.slice(node.startIndex, node.endIndex).slice(0, 80),
    });
    if (node.isError) return out; // its children are part of the same mistake
  }
  for (let i = 0; i < node.childCount; i++) errors(node.child(i), source, out);
  return out;
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) throw new Error('usage: bicep-syntax.cjs FILE...');
  await Parser.init();
  const bicep = await Parser.Language.load(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
  const parser = new Parser();
  parser.setLanguage(bicep);
  const results = files.map((file) => {
    const { text, blanked } = blankExtensions(fs.readFileSync(file, 'utf8'));
    const tree = parser.parse(text);
    return { file, blanked, errors: errors(tree.rootNode, text) };
  });
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((err) => {
  process.stderr.write(`bicep-syntax: ${err.stack || err}\n`);
  process.exit(2);
});
