"""The language server for rule files: ``oncologic lsp`` (LSP over stdio, pygls 2.x).

In: LSP messages on stdin (an editor: VS Code, Neovim, Emacs ...). Out: LSP messages on stdout.

- **Diagnostics**: on didOpen, didChange (debounced, :data:`DEBOUNCE` s) and didSave, the front
  end of ``oncologic check`` (:func:`oncologic.compile.build.diagnose`) runs on the knowledge-base
  folder that holds the document (:func:`kb_folder`), with the text of every open document in
  place of its file on disk (no cache entry is read or written for such a build). Every
  ``*.rules`` file of that folder gets its diagnostics published (an empty list clears them):
  the codes, positions (0-based: LSP's) and messages of ``check``, ``source`` "oncologic",
  ``related`` as related information. The static analysis (W4xx/W5xx, about a second) runs on
  save only; its warnings stay until the next save.
- **Hover** on an attribute, item, concept/setting, document or rule id: its kind and type
  (allowed values, unit, range), labels in English and Chinese, classes and members, where it
  is defined, and the rules that define a concept with their sources.
- **Definition** of the same names (a rule's ``for SETTING``, a ``source DOCUMENT``).
- **Completion**: the values of an attribute after ``ATTR =`` / ``ATTR in (`` / ``ATTR has``,
  items after ``recommend``/``avoid``/``is``/``has``, settings after ``for``, documents after
  ``source``, else attribute names, concepts and the grammar's keywords
  (:func:`oncologic.lang.parser.keywords`; statement keywords at a line's start).

The names come from an index of the folder's files (:class:`Index`), parsed and built one file
at a time (:func:`oncologic.lang.builder.build_module`), so hover and completion keep working
while another statement of the file is broken. Positions: Python string indices of a line, the
same as LSP's UTF-16 columns for every character of the Basic Multilingual Plane (Chinese
included). Requires pygls (``pip install oncologic[lsp]``); importing this module without it
raises ImportError.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..compile.build import RULE_SUFFIX, diagnose, rule_files
from ..errors import OncologicError
from ..lang import nodes as n
from ..lang.builder import build_module
from ..lang.parser import keywords, parse_text, read_text, statement_keywords
from ..model.kb import ancestors
from ..resources import __version__
from ..values import Record, Value

DEBOUNCE = 0.3  # seconds without a change before a changed document is checked
SOURCE = "oncologic"
log = logging.getLogger(__name__)


# ---- the knowledge-base folder of a document -------------------------------------------------

def _holds_rules(folder: Path) -> bool:
    try:
        return any(p.is_file() for p in folder.glob(f"*{RULE_SUFFIX}"))
    except OSError:
        return False


def kb_folder(document: Path, root: Path | None = None) -> Path:
    """The knowledge-base folder a rule file belongs to: from the file's folder up, each parent
    that holds rule files itself or in one of its immediate subfolders (``facts/`` above
    ``facts/lung/``), never above the workspace ``root``; the file's own folder when none."""
    folder = document.resolve().parent
    top = root.resolve() if root is not None else None
    while folder.parent != folder and folder != top:
        parent = folder.parent
        try:
            siblings = [p for p in parent.iterdir() if p.is_dir() and p != folder and not p.name.startswith(".")]
        except OSError:
            break
        if not (_holds_rules(parent) or any(_holds_rules(s) for s in siblings)):
            break
        folder = parent
    return folder


# ---- the index of names ------------------------------------------------------------------------

@dataclass(eq=False, repr=False)
class Index(Record):
    """The names a knowledge-base folder declares, each with where (``Pos.file`` is the file's
    path: the folder is shown as its absolute path)."""

    attributes: dict[str, n.Attribute] = field(default_factory=dict)
    items: dict[str, n.Item] = field(default_factory=dict)
    concepts: dict[str, list[n.Rule]] = field(default_factory=dict)
    documents: dict[str, n.Document] = field(default_factory=dict)
    rules: dict[str, n.Rule] = field(default_factory=dict)

    @classmethod
    def of(cls, folder: Path, overlay: dict[Path, str]) -> "Index":
        out = cls()
        files = {p.resolve() for p in rule_files(folder)} | {p for p in overlay if p.name.endswith(RULE_SUFFIX)
                                                              and p.is_relative_to(folder)}
        for path in sorted(files):
            try:
                text = overlay[path] if path in overlay else read_text(path)
            except OSError:
                continue
            parsed = parse_text(text, str(path))
            module, _ = build_module(parsed.tree, str(path), parsed.failed)
            for attr in module.attributes:
                out.attributes.setdefault(attr.name, attr)
            for item in module.items:
                out.items.setdefault(item.name, item)
            for doc in module.documents:
                out.documents.setdefault(doc.name, doc)
            for rule in module.rules:
                if rule.kind in ("concept", "setting") and rule.name:
                    out.concepts.setdefault(rule.name, []).append(rule)
                else:
                    out.rules.setdefault(rule.id, rule)
        return out

    def ancestors(self, name: str) -> list[str]:
        return ancestors(self.items, name)

    def members(self, cls: str) -> list[str]:
        return sorted(name for name in self.items if name != cls and cls in self.ancestors(name))

    def definitions(self, name: str) -> list[n.Pos]:
        """Where ``name`` is declared (a concept: each rule that defines it)."""
        for table in (self.attributes, self.items, self.documents, self.rules):
            if name in table:
                return [table[name].pos]
        return [rule.pos for rule in self.concepts.get(name, ())]


# ---- hover -------------------------------------------------------------------------------------

def _where(pos: n.Pos, folder: Path) -> str:
    try:
        shown = Path(pos.file).relative_to(folder.parent).as_posix()
    except ValueError:
        shown = pos.file
    return f"{shown}:{pos.line}"


def _labels(labels: n.Labels) -> list[str]:
    return [f"- {lang}: {text}" for lang, text in labels]


def _type_text(spec: n.TypeSpec) -> str:
    if spec.kind in ("enum", "set"):
        return ("enum " if spec.kind == "enum" else "set of ") + ", ".join(spec.values)
    if spec.kind == "item_set":
        return "set of items"
    if spec.kind == "record_list":
        return "list of {" + "; ".join(f"{f.name}: {_type_text(f.type)}" for f in spec.fields) + "}"
    low = n.value_text(spec.low) if spec.low is not None else ""
    high = n.value_text(spec.high) if spec.high is not None else ""
    return spec.kind + (f" {low}..{high}" if low or high else "")


_UNITS = {"duration": "unit: d, wk, mo or a (canonical: days)", "length": "unit: mm or cm (canonical: mm)",
          "percent": "unit: % (or a number 0..100)"}


def hover_text(index: Index, name: str, folder: Path) -> str | None:
    """The Markdown a hover on ``name`` shows, or None when it names nothing."""
    if name in index.attributes:
        a = index.attributes[name]
        out = [f"**{name}** — attribute: `{_type_text(a.type)}`"]
        if a.type.kind in _UNITS:
            out.append(_UNITS[a.type.kind])
        out += _labels(a.labels)
        if a.values:
            out.append("values:")
            out += [f"- `{v}`: " + " / ".join(text for _, text in labels) for v, labels in a.values]
        if a.derive:
            out.append(f"derived: {a.derive[0]} - {a.derive[1]}")
        if a.required:
            out.append("required")
        if a.applies is not None:
            out.append(f"applies when {n.to_source(a.applies)}")
        out.append(f"defined at {_where(a.pos, folder)}")
        return "\n\n".join(out)
    if name in index.items:
        item = index.items[name]
        out = [f"**{name}** — {item.kind}"]
        out += _labels(item.labels)
        if item.isa:
            out.append("classes: " + ", ".join(index.ancestors(name)))
        members = index.members(name)
        if members:
            out.append("members: " + ", ".join(members))
        out.append(f"defined at {_where(item.pos, folder)}")
        return "\n\n".join(out)
    if name in index.concepts:
        rules = index.concepts[name]
        out = [f"**{name}** — {rules[0].kind}"]
        out += _labels(next((r.labels for r in rules if r.labels), ()))
        for rule in rules:
            line = f"- `{rule.id}` at {_where(rule.pos, folder)}"
            if rule.condition is not None:
                line += f": if `{n.to_source(rule.condition)}`"
            for cite in rule.sources:
                line += f" — source {cite.document} \"{cite.locator}\""
            out.append(line)
        return "\n\n".join(out)
    if name in index.documents:
        d = index.documents[name]
        out = [f"**{name}** — document `{d.filename}`"]
        out += [f"- {lang}: {text}" for lang, text in d.titles] or ([f"- {d.title}"] if d.title else [])
        out.append(f"defined at {_where(d.pos, folder)}")
        return "\n\n".join(out)
    if name in index.rules:
        r = index.rules[name]
        out = [f"**{name}** — {r.kind}"]
        if r.regimens:
            out.append(("recommend " if r.polarity == "recommend" else "do not recommend " if r.polarity else "avoid ")
                       + ", ".join(" + ".join(reg) for reg in r.regimens))
        if r.setting:
            out.append(f"for {r.setting}")
        out += [f"source {c.document} \"{c.locator}\"" for c in r.sources]
        out.append(f"defined at {_where(r.pos, folder)}")
        return "\n\n".join(out)
    return None


# ---- completion --------------------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
_WORD_AT = re.compile(_NAME)
_PARTIAL = re.compile(r"[A-Za-z0-9_.]*$")
_VALUE_CONTEXT = re.compile(rf"({_NAME})\s*(?:=|!=|≠|\bin\s*\([^)]*|\bhas(?:\s+any\s+of\s*\([^)]*)?)\s*(?:,\s*)?$")
_ITEM_CONTEXT = re.compile(r"(?:\brecommend|\bavoid|\bis)\s+(?:[A-Za-z0-9_.]+\s*[+,]\s*)*$")
_FOR_CONTEXT = re.compile(r"\bfor\s+$")
_SOURCE_CONTEXT = re.compile(r"\bsource\s+$")


@dataclass(frozen=True, eq=False, repr=False)
class Candidate(Value):
    label: str
    kind: str  # value, item, setting, concept, document, attribute, keyword
    detail: str = ""


def _label_detail(labels: n.Labels) -> str:
    return " / ".join(text for _, text in labels)


def completions(index: Index, before: str) -> list[Candidate]:
    """What may be written at the end of ``before`` (the line up to the cursor)."""
    head = before[: len(before) - len(_PARTIAL.search(before).group())]
    value = _VALUE_CONTEXT.search(head)
    if value and value.group(1) in index.attributes:
        attr = index.attributes[value.group(1)]
        if attr.type.kind == "item_set":
            return _items(index)
        if attr.type.kind == "bool":
            return [Candidate("true", "value"), Candidate("false", "value")]
        labels = dict(attr.values)
        return [Candidate(v, "value", _label_detail(labels.get(v, ()))) for v in attr.type.values]
    if _ITEM_CONTEXT.search(head):
        return _items(index)
    if _FOR_CONTEXT.search(head):
        return [Candidate(name, "setting", _label_detail(rules[0].labels)) for name, rules in sorted(index.concepts.items())
                if rules[0].kind == "setting"]
    if _SOURCE_CONTEXT.search(head):
        return [Candidate(name, "document", d.title or "") for name, d in sorted(index.documents.items())]
    if not head.strip():  # a line's first word: a statement or a clause
        words = sorted(keywords() - statement_keywords())
        return [Candidate(w, "keyword") for w in sorted(statement_keywords())] + [Candidate(w, "keyword") for w in words]
    return ([Candidate(name, "attribute", _type_text(a.type)) for name, a in sorted(index.attributes.items())]
            + [Candidate(name, rules[0].kind, _label_detail(next((r.labels for r in rules if r.labels), ())))
               for name, rules in sorted(index.concepts.items())]
            + [Candidate(w, "keyword") for w in sorted(keywords())])


def _items(index: Index) -> list[Candidate]:
    return [Candidate(name, "item", f"{item.kind}: {_label_detail(item.labels)}") for name, item in sorted(index.items.items())]


def word_at(line: str, character: int) -> str | None:
    """The name under the cursor (a rule id keeps its dots), or None."""
    for match in _WORD_AT.finditer(line):
        if match.start() <= character <= match.end():
            return match.group()
    return None


# ---- diagnostics as LSP sees them ----------------------------------------------------------------

def _range(line: int, column: int, end_line: int | None, end_column: int | None) -> t.Range:
    start = t.Position(line=max(line - 1, 0), character=max(column - 1, 0))
    if end_line is None or end_column is None or (end_line, end_column) < (line, column):
        return t.Range(start=start, end=start)
    return t.Range(start=start, end=t.Position(line=max(end_line - 1, 0), character=max(end_column - 1, 0)))


def to_lsp(d) -> t.Diagnostic:
    """A :class:`oncologic.errors.Diagnostic` as LSP's."""
    related = [t.DiagnosticRelatedInformation(location=t.Location(uri=from_fs_path(f), range=_range(line, column, None, None)), message=message)
               for f, line, column, message in d.related]
    return t.Diagnostic(range=_range(d.line, d.column, d.end_line, d.end_column), message=d.message,
                        severity=t.DiagnosticSeverity.Error if d.severity == "error" else t.DiagnosticSeverity.Warning,
                        code=d.code or None, source=SOURCE, related_information=related or None)


# ---- the server --------------------------------------------------------------------------------

class RulesServer(LanguageServer):
    """The language server: per knowledge-base folder, the last analysis warnings (refreshed on
    save) and the files diagnostics were published for."""

    def __init__(self):
        super().__init__("oncologic", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Full)
        self.root: Path | None = None
        self.kb_override: Path | None = None
        self.analysis: dict[Path, list] = {}
        self.published: dict[Path, set[str]] = {}
        self.generation: dict[str, int] = {}

    # -- where and what --
    def folder_of(self, uri: str) -> Path | None:
        path = to_fs_path(uri)
        if path is None:
            return None
        if self.kb_override is not None:
            return self.kb_override
        return kb_folder(Path(path), self.root)

    def overlay(self, folder: Path) -> dict[Path, str]:
        out = {}
        for uri, doc in self.workspace.text_documents.items():
            path = to_fs_path(uri)
            if path is not None and Path(path).resolve().is_relative_to(folder):
                out[Path(path).resolve()] = doc.source
        return out

    def index(self, uri: str) -> tuple[Index, Path] | None:
        folder = self.folder_of(uri)
        return (Index.of(folder, self.overlay(folder)), folder) if folder is not None else None

    # -- diagnostics --
    def check(self, uri: str, analyse: bool) -> None:
        folder = self.folder_of(uri)
        if folder is None:
            return
        overlay = self.overlay(folder)
        try:
            compiled, found = diagnose(str(folder), overlay or None)
        except OncologicError as err:
            self.window_log_message(t.LogMessageParams(type=t.MessageType.Warning, message=f"oncologic: {err}"))
            return
        if analyse:
            self.analysis[folder] = self._analysis(compiled, folder) if compiled is not None else []
        elif compiled is None:
            self.analysis.pop(folder, None)  # an error: the analysis does not run, its warnings go
        found = [*found, *self.analysis.get(folder, [])]
        by_file: dict[str, list[t.Diagnostic]] = {}
        for path in [*rule_files(folder), *overlay]:
            if str(path).endswith(RULE_SUFFIX):
                by_file.setdefault(from_fs_path(str(Path(path).resolve())), [])
        for d in found:
            by_file.setdefault(from_fs_path(str(Path(d.file).resolve())), []).append(to_lsp(d))
        for stale in self.published.get(folder, set()) - set(by_file):
            by_file[stale] = []
        for file_uri, diagnostics in by_file.items():
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=file_uri, diagnostics=diagnostics))
        self.published[folder] = {u for u, ds in by_file.items() if ds}

    def _analysis(self, compiled, folder: Path) -> list:
        from ..analysis import analyse
        try:
            return list(analyse(compiled, str(folder)))
        except Exception as err:  # noqa: BLE001 - a failure of the analysis is not the editor's
            log.exception("analysis failed")
            self.window_log_message(t.LogMessageParams(type=t.MessageType.Error, message=f"oncologic analysis failed: {err}"))
            return []


def server() -> RulesServer:
    """A language server with every feature registered; ``.start_io()`` runs it."""
    ls = RulesServer()

    @ls.feature(t.INITIALIZE)
    def initialize(ls: RulesServer, params: t.InitializeParams):
        root = params.root_uri and to_fs_path(params.root_uri)
        if params.workspace_folders:
            root = to_fs_path(params.workspace_folders[0].uri)
        ls.root = Path(root) if root else None
        options = params.initialization_options or {}
        if isinstance(options, dict) and options.get("kb"):
            kb = Path(options["kb"])
            ls.kb_override = (kb if kb.is_absolute() or ls.root is None else ls.root / kb).resolve()

    @ls.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RulesServer, params: t.DidOpenTextDocumentParams):
        ls.check(params.text_document.uri, analyse=False)

    @ls.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: RulesServer, params: t.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        generation = ls.generation[uri] = ls.generation.get(uri, 0) + 1
        await asyncio.sleep(DEBOUNCE)
        if ls.generation.get(uri) == generation:
            ls.check(uri, analyse=False)

    @ls.feature(t.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RulesServer, params: t.DidSaveTextDocumentParams):
        ls.generation[params.text_document.uri] = ls.generation.get(params.text_document.uri, 0) + 1
        ls.check(params.text_document.uri, analyse=True)

    @ls.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RulesServer, params: t.DidCloseTextDocumentParams):
        ls.check(params.text_document.uri, analyse=False)  # the file on disk counts again

    def name_at(ls: RulesServer, params) -> tuple[str, Index, Path] | None:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        lines = doc.source.split("\n")
        line = lines[params.position.line] if params.position.line < len(lines) else ""
        name = word_at(line, params.position.character)
        found = ls.index(params.text_document.uri)
        return (name, *found) if name and found else None

    @ls.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls: RulesServer, params: t.HoverParams):
        found = name_at(ls, params)
        text = found and hover_text(found[1], found[0], found[2])
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text)) if text else None

    @ls.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: RulesServer, params: t.DefinitionParams):
        found = name_at(ls, params)
        if not found:
            return None
        places = found[1].definitions(found[0])
        return [t.Location(uri=from_fs_path(p.file), range=_range(p.line, p.column, p.end_line or None, p.end_column or None))
                for p in places] or None

    kinds = {"value": t.CompletionItemKind.EnumMember, "item": t.CompletionItemKind.Constant,
             "setting": t.CompletionItemKind.Class, "concept": t.CompletionItemKind.Class,
             "document": t.CompletionItemKind.Reference, "attribute": t.CompletionItemKind.Field,
             "keyword": t.CompletionItemKind.Keyword}

    @ls.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=[" ", "(", ","]))
    def completion(ls: RulesServer, params: t.CompletionParams):
        doc = ls.workspace.get_text_document(params.text_document.uri)
        lines = doc.source.split("\n")
        line = lines[params.position.line] if params.position.line < len(lines) else ""
        found = ls.index(params.text_document.uri)
        if found is None:
            return None
        items = [t.CompletionItem(label=c.label, kind=kinds[c.kind], detail=c.detail or None)
                 for c in completions(found[0], line[: params.position.character])]
        return t.CompletionList(is_incomplete=False, items=items)

    return ls


def main() -> None:
    """Run the server on stdin/stdout until the client says exit."""
    logging.basicConfig(level=logging.WARNING if not os.environ.get("ONCOLOGIC_DEBUG") else logging.DEBUG)
    server().start_io()
