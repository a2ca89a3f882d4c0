// Starts `oncologic lsp` for *.rules files (needs `npm install` before packaging: vscode-languageclient).
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("oncologic");
  const [command, ...args] = config.get("command", ["oncologic", "lsp"]);
  const kb = config.get("kb", "");
  client = new LanguageClient(
    "oncologic",
    "Oncologic rules",
    { command, args },
    {
      documentSelector: [{ scheme: "file", language: "oncologic" }],
      initializationOptions: kb ? { kb } : {},
    }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
