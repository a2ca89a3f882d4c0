// Tokenise a rule file with the TextMate grammar as VS Code does (vscode-textmate +
// vscode-oniguruma, from `npm install`): prints one JSON line [[text, scopes...], ...] per line.
// Usage: node tokenize.js FILE.rules
const fs = require("fs");
const path = require("path");
const oniguruma = require("vscode-oniguruma");
const textmate = require("vscode-textmate");

async function main(file) {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => {
      const source = fs.readFileSync(path.join(__dirname, "syntaxes", "oncologic.tmLanguage.json"), "utf8");
      return textmate.parseRawGrammar(source, "oncologic.tmLanguage.json");
    },
  });
  const grammar = await registry.loadGrammar("source.oncologic");
  let stack = textmate.INITIAL;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const result = grammar.tokenizeLine(line, stack);
    console.log(JSON.stringify(result.tokens.map((t) => [line.slice(t.startIndex, t.endIndex), ...t.scopes.slice(1)])));
    stack = result.ruleStack;
  }
}

main(process.argv[2]).catch((err) => { console.error(err); process.exit(1); });
