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

The knowledge-base folder of a file: :func:`kb_folder` (or the ``kb`` initialization option;
a bad value is shown as a warning). Diagnostics run in a worker thread (requests stay answered
while a large folder compiles), carry the document version they were computed for, and go only
to files of that folder. Hover and definition resolve a name by its context
(:func:`target_at`: a value after ``ATTR =``, a field inside ``any LIST where (``, a rule id
after ``id``; nothing in comments or strings); completion likewise (:func:`completions`).

The names come from an index of the folder's files (:class:`Index`), parsed and built one file
at a time (:func:`oncologic.lang.builder.build_module`) and kept per folder: a request re-parses
only the files whose text changed. Positions: the server works in code points and converts to
and from the encoding negotiated at initialize (UTF-8, UTF-16 or UTF-32; pygls's
``PositionCodec``). A request whose params do not fit answers InvalidParams; a change to a
document never opened is ignored (logged); ``exit`` without ``shutdown`` exits 1. Requires
pygls (``pip install oncologic[lsp]``); importing this module without it raises ImportError.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
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

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
_WORD_AT = re.compile(_NAME)
_PARTIAL = re.compile(r"[A-Za-z0-9_.]*$")
_VALUE_CONTEXT = re.compile(rf"({_NAME})\s*(?:=|!=|≠|\bin\s*\([^)]*|\bhas(?:\s+any\s+of\s*\([^)]*)?)\s*(?:,\s*)?$")
_ITEM_CONTEXT = re.compile(r"(?:\brecommend|\bavoid|\bis)\s+(?:[A-Za-z0-9_.]+\s*[+,]\s*)*$")
_FOR_CONTEXT = re.compile(r"\bfor\s+$")
_SOURCE_CONTEXT = re.compile(r"\bsource\s+$")


# ---- the knowledge-base folder of a document -------------------------------------------------

_SKIP = {"node_modules", "__pycache__", "venv", ".venv", "site-packages"}


def _holds_rules(folder: Path) -> bool:
    try:
        return any(p.is_file() for p in folder.glob(f"*{RULE_SUFFIX}"))
    except OSError:
        return False


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in _SKIP]
    except OSError:
        return []


def _is_part(folder: Path) -> bool:
    """A folder that looks like one part of a knowledge base (``facts/lung``): rule files of its
    own, none in a subfolder."""
    return _holds_rules(folder) and not any(_holds_rules(s) for s in _subfolders(folder))


def kb_folder(document: Path, root: Path | None = None) -> Path:
    """The knowledge-base folder a rule file belongs to.

    The file's own folder, or its parent when the file's folder is a *part* (rule files of its
    own, none in a subfolder) and every other folder in the parent holding rule files is a part
    too: ``facts/`` for ``facts/lung/sclc.rules`` (``facts/{common,lung,hcc}``). So at most one
    level up: a workspace holding two knowledge bases (``kbA/``, ``kbB/``) beside a ``lone/``
    folder is never one knowledge base (``kbA/`` is not a part: its rule files are in its
    subfolders), and ``lone/x.rules`` stays alone. Never above the workspace ``root``, unless
    the root is the file's own folder (an editor's single-file mode)."""
    folder = document.resolve().parent
    top = root.resolve() if root is not None else None
    parent = folder.parent
    if parent == folder or not _is_part(folder):
        return folder
    if top is not None and folder != top and not parent.is_relative_to(top):
        return folder  # at the workspace root (or outside the workspace): no higher
    if all(_is_part(s) or not _has_rules_below(s) for s in _subfolders(parent) if s != folder):
        return parent
    return folder


def _has_rules_below(folder: Path, depth: int = 2) -> bool:
    """Rule files in ``folder`` or its subfolders, ``depth`` levels down at most."""
    if _holds_rules(folder):
        return True
    return depth > 0 and any(_has_rules_below(s, depth - 1) for s in _subfolders(folder))


# ---- the index of names ------------------------------------------------------------------------

@dataclass(eq=False, repr=False)
class Index(Record):
    """The names a knowledge-base folder declares, each with where (``Pos.file`` is the file's
    path: the folder is shown as its absolute path). ``rules``: every rule by its id (concept
    rules included); ``concepts``: the rules defining each concept or setting."""

    attributes: dict[str, n.Attribute] = field(default_factory=dict)
    items: dict[str, n.Item] = field(default_factory=dict)
    concepts: dict[str, list[n.Rule]] = field(default_factory=dict)
    documents: dict[str, n.Document] = field(default_factory=dict)
    rules: dict[str, n.Rule] = field(default_factory=dict)

    @classmethod
    def of(cls, folder: Path, overlay: dict[Path, str], cache: "dict[Path, tuple] | None" = None) -> "Index":
        """The index of ``folder`` (``overlay``: unsaved texts by path). ``cache`` (path →
        (key, module)), kept between calls, spares parsing a file whose text (or size and time
        on disk) has not changed."""
        out = cls()
        cache = {} if cache is None else cache
        files = {p.resolve() for p in rule_files(folder)} | {p for p in overlay if p.name.endswith(RULE_SUFFIX)
                                                              and p.is_relative_to(folder)}
        for path in list(cache):
            if path not in files:
                del cache[path]
        for path in sorted(files):
            try:
                if path in overlay:
                    key = ("text", overlay[path])
                else:
                    stat = path.stat()
                    key = ("disk", stat.st_mtime_ns, stat.st_size)
                if path not in cache or cache[path][0] != key:
                    text = overlay[path] if path in overlay else read_text(path)
                    parsed = parse_text(text, str(path))
                    cache[path] = (key, build_module(parsed.tree, str(path), parsed.failed)[0])
            except OSError:
                continue
            module = cache[path][1]
            for attr in module.attributes:
                out.attributes.setdefault(attr.name, attr)
            for item in module.items:
                out.items.setdefault(item.name, item)
            for doc in module.documents:
                out.documents.setdefault(doc.name, doc)
            for rule in module.rules:
                if rule.kind in ("concept", "setting") and rule.name:
                    out.concepts.setdefault(rule.name, []).append(rule)
                out.rules.setdefault(rule.id, rule)
        return out

    def ancestors(self, name: str) -> list[str]:
        return ancestors(self.items, name)

    def members(self, cls: str) -> list[str]:
        return sorted(name for name in self.items if name != cls and cls in self.ancestors(name))

    def definitions(self, name: str) -> list[n.Pos]:
        """Where ``name`` is declared (a concept: each rule that defines it)."""
        for table in (self.attributes, self.items, self.documents):
            if name in table:
                return [table[name].pos]
        if name in self.concepts:
            return [rule.pos for rule in self.concepts[name]]
        return [self.rules[name].pos] if name in self.rules else []

    def gradings(self, what: str) -> list[str]:
        """The strengths (``what`` = "strength") or evidence levels the rules use."""
        return sorted({getattr(r, what) for r in self.rules.values() if getattr(r, what)})


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
        out = [f"**{name}** — {r.kind}" + (f" `{r.name}`" if r.name and r.name != name else "")]
        if r.condition is not None:
            out.append(f"if `{n.to_source(r.condition)}`")
        if r.regimens:
            out.append(("recommend " if r.polarity == "recommend" else "do not recommend " if r.polarity else "avoid ")
                       + ", ".join(" + ".join(reg) for reg in r.regimens))
        if r.setting:
            out.append(f"for {r.setting}")
        grading = [f"{word} {value}" for word, value in (
            ("strength", r.strength), ("evidence", r.evidence), ("grade", r.grade and f'"{r.grade}"'),
            ("consensus", r.consensus is not None and n.value_text(r.consensus))) if value]
        if grading:
            out.append(", ".join(grading))
        out += [f"source {c.document} \"{c.locator}\"" for c in r.sources]
        out.append(f"defined at {_where(r.pos, folder)}")
        return "\n\n".join(out)
    return None


def value_hover(index: Index, owner: str, spec: n.TypeSpec, value: str, labels: dict, pos: n.Pos, folder: Path) -> str:
    """The Markdown of a hover on an allowed ``value`` of the attribute or field ``owner``."""
    out = [f"**{value}** — value of `{owner}` (`{_type_text(spec)}`)"]
    out += _labels(labels.get(value, ()))
    out.append(f"defined at {_where(pos, folder)}")
    return "\n\n".join(out)


def field_hover(list_attr: n.Attribute, fld: n.Field, folder: Path) -> str:
    return "\n\n".join([f"**{fld.name}** — field of `{list_attr.name}`: `{_type_text(fld.type)}`",
                         f"defined at {_where(fld.pos, folder)}"])


@dataclass(frozen=True, eq=False, repr=False)
class Target(Value):
    """What a name in a document stands for: ``kind`` value (``owner`` its attribute or field),
    field (``owner`` its list attribute), rule (an id), or name (anything the index declares)."""

    kind: str
    name: str
    owner: str = ""
    record: str = ""  # the list attribute of the ``any ... where (`` the name is in


def _blanked(text: str) -> str:
    """``text`` with every comment and string replaced by spaces (same length, same lines)."""
    return re.sub(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*', lambda m: " " * len(m.group()), text)


_ANY_OPEN = re.compile(rf"\bany\s+({_NAME})\s+where\s*\(")


def record_context(index: Index, before: str) -> n.Attribute | None:
    """The list attribute of the ``any LIST where (`` whose parenthesis is open at the end of
    ``before`` (comments and strings blanked)."""
    for match in reversed(list(_ANY_OPEN.finditer(before))):
        rest = before[match.end():]
        if rest.count("(") - rest.count(")") >= 0:
            attr = index.attributes.get(match.group(1))
            return attr if attr is not None and attr.type.kind == "record_list" else None
    return None


def _owner_type(index: Index, record: n.Attribute | None, name: str) -> tuple[str, n.TypeSpec, dict, n.Pos] | None:
    if record is not None:
        for fld in record.type.fields:
            if fld.name == name:
                return f"{record.name}.{name}", fld.type, {}, fld.pos
    if name in index.attributes:
        a = index.attributes[name]
        return name, a.type, dict(a.values), a.pos
    return None


def target_at(index: Index, text: str, line: int, character: int) -> Target | None:
    """What the name at ``line``/``character`` (0-based, code points) of ``text`` stands for;
    None in a comment or string, or on no name."""
    lines = _blanked(text).split("\n")
    if line >= len(lines):
        return None
    name = word_at(lines[line], character)
    if name is None:
        return None
    start = next(m.start() for m in _WORD_AT.finditer(lines[line]) if m.start() <= character <= m.end())
    before_line = lines[line][:start]
    before = "\n".join(lines[max(0, line - 30):line] + [before_line])
    record = record_context(index, before)
    value = _VALUE_CONTEXT.search(before_line)
    if value:
        owner = _owner_type(index, record, value.group(1))
        if owner is not None and name in owner[1].values:
            return Target("value", name, value.group(1), record.name if record is not None else "")
    if record is not None and any(f.name == name for f in record.type.fields):
        return Target("field", name, record.name, record.name)
    if re.search(r"(?:^|\s)id\s+$", before_line) or (name in index.rules and "." in name):
        return Target("rule", name) if name in index.rules else None
    return Target("name", name)


def target_hover(index: Index, target: Target, text: str, line: int, folder: Path) -> str | None:
    if target.kind in ("value", "field"):
        record = index.attributes.get(target.record)
        if target.kind == "field":
            fld = next(f for f in record.type.fields if f.name == target.name)
            return field_hover(record, fld, folder)
        owner, spec, labels, pos = _owner_type(index, record, target.owner)
        return value_hover(index, owner, spec, target.name, labels, pos, folder)
    if target.kind == "rule":
        r = index.rules[target.name]
        if r.kind in ("concept", "setting"):  # a concept's rule: the rule, not every rule of the concept
            return hover_text(Index(rules={target.name: r}), target.name, folder)
        return hover_text(index, target.name, folder)
    if target.name in index.rules and target.name not in index.concepts:
        return hover_text(Index(rules={target.name: index.rules[target.name]}), target.name, folder)
    return hover_text(index, target.name, folder)


def target_definitions(index: Index, target: Target, text: str, line: int) -> list[n.Pos]:
    if target.kind in ("value", "field"):
        record = index.attributes.get(target.record)
        if target.kind == "field":
            return [next(f.pos for f in record.type.fields if f.name == target.name)]
        return [_owner_type(index, record, target.owner)[3]]
    if target.kind == "rule":
        return [index.rules[target.name].pos]
    return index.definitions(target.name)


# ---- completion --------------------------------------------------------------------------------



@dataclass(frozen=True, eq=False, repr=False)
class Candidate(Value):
    label: str
    kind: str  # value, item, setting, concept, document, attribute, field, keyword
    detail: str = ""


def _label_detail(labels: n.Labels) -> str:
    return " / ".join(text for _, text in labels)


_TYPE_WORDS = [("enum", "enum a, b, c"), ("int", "int 0..4"), ("number", "number"), ("duration", "duration 0d.."),
               ("percent", "percent 0%..100%"), ("length", "length 0mm.."), ("bool", "true or false"),
               ("date", "YYYY-MM-DD"), ("string", "text"), ("set of", "set of a, b / set of items"),
               ("list of", "list of {field: type; ...}")]
_ITEM_KINDS = ("drug", "class", "procedure", "action", "group")
_HEAD = re.compile(r"^(document|grading|attribute|drug|class|procedure|action|group|concept|setting"
                   r"|recommendation|contraindication)\b", re.M)
_NUMERIC = {"int", "number", "duration", "percent", "length", "date", "string"}


def in_comment_or_string(before: str) -> bool:
    """Whether the end of ``before`` (a line up to the cursor) is inside a comment or string."""
    for match in re.finditer(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*', before):
        text = match.group()
        if match.end() == len(before) and (text.startswith("#") or len(text) == 1 or not text.endswith('"')):
            return True
    return False


def _condition_words(index: Index, record: n.Attribute | None = None) -> list[Candidate]:
    fields = [Candidate(f.name, "field", _type_text(f.type)) for f in record.type.fields] if record else []
    return (fields + [Candidate(name, "attribute", _type_text(a.type)) for name, a in sorted(index.attributes.items())]
            + [Candidate(name, rules[0].kind, _label_detail(next((r.labels for r in rules if r.labels), ())))
               for name, rules in sorted(index.concepts.items())]
            + [Candidate("not", "keyword"), Candidate("any", "keyword")])


def completions(index: Index, before: str, text_before: str | None = None) -> list[Candidate]:
    """What may be written at the end of ``before`` (the line up to the cursor; ``text_before``:
    the document up to the cursor, for a statement or an ``any ... where (`` begun on an
    earlier line). Nothing inside a comment or string."""
    if in_comment_or_string(before):
        return []
    text_before = before if text_before is None else text_before
    head = before[: len(before) - len(_PARTIAL.search(before).group())]
    blank = _blanked(text_before)
    blank = blank[: len(blank) - (len(before) - len(head))]
    statement = next(reversed(list(_HEAD.finditer(blank))), None)
    statement = statement.group(1) if statement else None
    record = record_context(index, "\n".join(blank.split("\n")[-30:]))
    if re.search(rf"^\s*attribute\s+{_NAME}\s*:\s*$", head) or re.search(rf";\s*{_NAME}\s*:\s*$|\{{\s*{_NAME}\s*:\s*$", head):
        return [Candidate(word, "keyword", detail) for word, detail in _TYPE_WORDS]
    if re.search(r"(?:^|\s)strength\s+$", head):
        return [Candidate(w, "value", "strength used in this knowledge base") for w in index.gradings("strength")]
    if re.search(r"(?:^|\s)evidence\s+$", head):
        return [Candidate(w, "value", "evidence level used in this knowledge base") for w in index.gradings("evidence")]
    value = _VALUE_CONTEXT.search(head)
    owner = _owner_type(index, record, value.group(1)) if value else None
    if owner is not None:
        spec = owner[1]
        if spec.kind == "item_set":
            return _items(index)
        if spec.kind == "bool":
            return [Candidate("true", "value"), Candidate("false", "value")]
        if spec.kind in _NUMERIC or spec.kind == "record_list":
            return []  # a number, date or text comes next
        labels = owner[2]
        return [Candidate(v, "value", _label_detail(labels.get(v, ()))) for v in spec.values]
    if re.search(rf"{_NAME}\s*(?:<=|>=|!=|=|<|>|≤|≥|≠)\s*$", head):
        return []  # a comparison of something unknown: nothing to offer
    if re.search(rf"\b{_NAME}\s+is\s+$", head) and statement not in _ITEM_KINDS:
        return [Candidate("known", "keyword", "has a recorded value"), Candidate("empty", "keyword", "recorded, with no element")]
    regimen = re.search(r"(?:\brecommend|\bavoid)\s+((?:[A-Za-z0-9_.]+\s*[+,]\s*)*)$", head)
    if regimen:
        if "avoid" in regimen.group(0).split()[0]:
            used = set(re.findall(r"[A-Za-z0-9_.]+", regimen.group(1)))
        else:
            used = set(re.findall(r"[A-Za-z0-9_.]+", regimen.group(1).split(",")[-1]))
        return [c for c in _items(index) if c.label not in used]
    if re.search(r"\bis\s+(?:[A-Za-z0-9_.]+\s*,\s*)*$", head):
        return _items(index)  # `drug X is CLASS, ...`
    if _FOR_CONTEXT.search(head):
        return [Candidate(name, "setting", _label_detail(rules[0].labels)) for name, rules in sorted(index.concepts.items())
                if rules[0].kind == "setting"]
    if _SOURCE_CONTEXT.search(head):
        return [Candidate(name, "document", d.title or "") for name, d in sorted(index.documents.items())]
    if re.search(r"(?:^|\s|\()(?:if|when|and|or|not|population)\s+$|\($", head) or (record is not None and head.rstrip().endswith("(")):
        return _condition_words(index, record)
    if not head.strip():  # a line's first word: a statement or a clause
        words = sorted(keywords() - statement_keywords())
        return [Candidate(w, "keyword") for w in sorted(statement_keywords())] + [Candidate(w, "keyword") for w in words]
    return _condition_words(index, record) + [Candidate(w, "keyword") for w in sorted(keywords())]


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
    """A range of 1-based lines and code-point columns as 0-based ones (still code points)."""
    start = t.Position(line=max(line - 1, 0), character=max(column - 1, 0))
    if end_line is None or end_column is None or (end_line, end_column) < (line, column):
        return t.Range(start=start, end=start)
    return t.Range(start=start, end=t.Position(line=max(end_line - 1, 0), character=max(end_column - 1, 0)))


def to_lsp(d, encode=lambda path, rng: rng) -> t.Diagnostic:
    """A :class:`oncologic.errors.Diagnostic` as LSP's; ``encode(path, range)`` turns a range of
    code points in the file ``path`` into the client's position encoding."""
    related = [t.DiagnosticRelatedInformation(location=t.Location(uri=from_fs_path(f), range=encode(f, _range(line, column, None, None))),
                                              message=message)
               for f, line, column, message in d.related]
    return t.Diagnostic(range=encode(d.file, _range(d.line, d.column, d.end_line, d.end_column)), message=d.message,
                        severity=t.DiagnosticSeverity.Error if d.severity == "error" else t.DiagnosticSeverity.Warning,
                        code=d.code or None, source=SOURCE, related_information=related or None)


# ---- the server --------------------------------------------------------------------------------

class _Protocol(LanguageServerProtocol):
    """pygls's protocol, with a request whose params do not fit its method answered by an
    InvalidParams error (pygls only logs it), and a change to a document never opened ignored
    (logged) instead of raising."""

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcInvalidParams:
            if isinstance(data, dict) and "id" in data and "method" in data:
                self._send_response(data["id"], error=t.ResponseError(
                    code=JsonRpcInvalidParams.CODE, message=f"invalid params for {data['method']}"))
                return _ANSWERED
            raise

    def handle_message(self, message):
        if message is _ANSWERED:
            return
        super().handle_message(message)

    @lsp_method(t.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: t.DidChangeTextDocumentParams):
        if params.text_document.uri not in self.workspace.text_documents:
            log.warning("didChange of a document never opened, ignored: %s", params.text_document.uri)
            return
        yield from super().lsp_text_document__did_change(params)


_ANSWERED = object()


class RulesServer(LanguageServer):
    """The language server: per knowledge-base folder, its index (kept, re-parsed per changed
    file), the last analysis warnings (refreshed on save) and the files diagnostics were
    published for."""

    def __init__(self):
        super().__init__("oncologic", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Full,
                         protocol_cls=_Protocol)
        self.root: Path | None = None
        self.kb_override: Path | None = None
        self.warnings: list[str] = []
        self.analysis: dict[Path, list] = {}
        self.published: dict[Path, set[str]] = {}
        self.generation: dict[str, int] = {}
        self.runs: dict[Path, int] = {}
        self.parsed: dict[Path, dict] = {}
        self.folders: dict[Path, Path] = {}
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oncologic-check")

    # -- where and what --
    def path_of(self, uri: str) -> Path | None:
        """The file of a ``file:`` URI (None for an untitled buffer and other schemes)."""
        if not uri.startswith("file:"):
            return None
        path = to_fs_path(uri)
        return Path(path).resolve() if path else None

    def folder_of(self, uri: str) -> Path | None:
        path = self.path_of(uri)
        if path is None:
            return None
        if self.kb_override is not None and path.is_relative_to(self.kb_override):
            return self.kb_override
        if path not in self.folders:
            self.folders[path] = kb_folder(path, self.root)
        return self.folders[path]

    def overlay(self, folder: Path) -> dict[Path, str]:
        out = {}
        for uri, doc in self.workspace.text_documents.items():
            path = self.path_of(uri)
            if path is not None and path.is_relative_to(folder):
                out[path] = doc.source
        return out

    def index(self, uri: str) -> tuple[Index, Path] | None:
        folder = self.folder_of(uri)
        if folder is None:
            return None
        return Index.of(folder, self.overlay(folder), self.parsed.setdefault(folder, {})), folder

    def text(self, uri: str) -> str | None:
        """The text of a document: as open in the editor, else as on disk, else None."""
        doc = self.workspace.text_documents.get(uri)
        if doc is not None:
            return doc.source
        path = self.path_of(uri)
        try:
            return read_text(path) if path is not None else None
        except (OSError, OncologicError):
            log.info("no text for %s", uri)
            return None

    def position_in(self, text: str, position: t.Position) -> tuple[int, int]:
        """A client's position in ``text`` as (line, code point)."""
        lines = text.split("\n")
        if position.line >= len(lines):
            return position.line, 0
        at = self.workspace.position_codec.position_from_client_units(
            lines, t.Position(line=position.line, character=position.character))
        return at.line, at.character

    def encoder(self):
        """``encode(path, range)``: a range of code points in a file as the client's units (the
        lines read once per file)."""
        codec = self.workspace.position_codec
        if codec.encoding == t.PositionEncodingKind.Utf32:
            return lambda path, rng: rng
        texts: dict[str, list[str]] = {}

        def encode(path, rng: t.Range) -> t.Range:
            if path not in texts:
                uri = from_fs_path(str(path))
                texts[path] = (self.text(uri) or "").split("\n")
            lines = texts[path]
            return t.Range(start=codec.position_to_client_units(lines, rng.start),
                           end=codec.position_to_client_units(lines, rng.end))
        return encode

    # -- diagnostics --
    async def check(self, uri: str, analyse: bool) -> None:
        """Diagnose the knowledge base of ``uri`` off the event loop (requests stay answered) and
        publish, unless a newer check of the same folder started meanwhile."""
        folder = self.folder_of(uri)
        if folder is None:
            return
        run = self.runs[folder] = self.runs.get(folder, 0) + 1
        overlay = self.overlay(folder)
        versions = {path: self.workspace.text_documents[from_fs_path(str(path))].version
                    for path in overlay if from_fs_path(str(path)) in self.workspace.text_documents}
        loop = asyncio.get_running_loop()
        try:
            compiled, found = await loop.run_in_executor(self.executor, diagnose, str(folder), overlay or None)
            analysis = (await loop.run_in_executor(self.executor, self._analysis, compiled, folder)
                        if analyse and compiled is not None else None)
        except OncologicError as err:
            self.window_log_message(t.LogMessageParams(type=t.MessageType.Warning, message=f"oncologic: {err}"))
            return
        if analyse:
            self.analysis[folder] = analysis or []
        elif compiled is None:
            self.analysis.pop(folder, None)  # an error: the analysis does not run, its warnings go
        if self.runs.get(folder) != run and not analyse:
            return  # a newer check publishes
        found = [*found, *self.analysis.get(folder, [])]
        by_file: dict[str, list[t.Diagnostic]] = {}
        for path in [*rule_files(folder), *overlay]:
            if str(path).endswith(RULE_SUFFIX):
                by_file.setdefault(from_fs_path(str(Path(path).resolve())), [])
        encode = self.encoder()
        for d in found:
            path = Path(d.file).resolve()
            if path.is_relative_to(folder):  # only the files of this knowledge base
                by_file.setdefault(from_fs_path(str(path)), []).append(to_lsp(d, encode))
        for stale in self.published.get(folder, set()) - set(by_file):
            by_file[stale] = []
        paths = {from_fs_path(str(p)): p for p in versions}
        for file_uri, diagnostics in by_file.items():
            version = versions.get(paths[file_uri]) if file_uri in paths else None
            self.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=file_uri, diagnostics=diagnostics,
                                                                               version=version))
        self.published[folder] = {u for u, ds in by_file.items() if ds}

    def _analysis(self, compiled, folder: Path) -> list:
        from ..analysis import analyse
        try:
            return list(analyse(compiled, str(folder)))
        except Exception as err:  # noqa: BLE001 - a failure of the analysis is not the editor's
            log.exception("analysis failed")
            self.window_log_message(t.LogMessageParams(type=t.MessageType.Error, message=f"oncologic analysis failed: {err}"))
            return []


def _options(ls: RulesServer, options) -> None:
    """The ``kb`` initialization option: a folder path (relative to the workspace root). Any
    other value or a missing folder: a warning shown to the user, and the folder found from each
    file instead."""
    if not isinstance(options, dict) or options.get("kb") in (None, ""):
        return
    kb = options["kb"]
    if not isinstance(kb, str):
        ls.warnings.append(f"oncologic: the kb setting must be a folder path, not {json.dumps(kb)}; "
                           "finding the knowledge base from each file instead")
        return
    path = Path(kb).expanduser()
    path = (path if path.is_absolute() or ls.root is None else ls.root / path).resolve()
    if not path.is_dir():
        ls.warnings.append(f"oncologic: the kb setting names no folder: {path}; finding the knowledge base from each file instead")
        return
    ls.kb_override = path


def server() -> RulesServer:
    """A language server with every feature registered; ``.start_io()`` runs it."""
    ls = RulesServer()

    @ls.feature(t.INITIALIZE)
    def initialize(ls: RulesServer, params: t.InitializeParams):
        root = params.root_uri and to_fs_path(params.root_uri)
        if params.workspace_folders:
            root = to_fs_path(params.workspace_folders[0].uri)
        ls.root = Path(root) if root else None
        _options(ls, params.initialization_options)

    @ls.feature(t.INITIALIZED)
    def initialized(ls: RulesServer, params: t.InitializedParams):
        for warning in ls.warnings:
            ls.window_show_message(t.ShowMessageParams(type=t.MessageType.Warning, message=warning))

    @ls.feature(t.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: RulesServer, params: t.DidOpenTextDocumentParams):
        path = ls.path_of(params.text_document.uri)
        ls.folders.pop(path, None)
        await ls.check(params.text_document.uri, analyse=False)

    @ls.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: RulesServer, params: t.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        if uri not in ls.workspace.text_documents:
            return
        generation = ls.generation[uri] = ls.generation.get(uri, 0) + 1
        await asyncio.sleep(DEBOUNCE)
        if ls.generation.get(uri) == generation:
            await ls.check(uri, analyse=False)

    @ls.feature(t.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: RulesServer, params: t.DidSaveTextDocumentParams):
        ls.generation[params.text_document.uri] = ls.generation.get(params.text_document.uri, 0) + 1
        ls.folders.clear()  # a new file may change what belongs together
        await ls.check(params.text_document.uri, analyse=True)

    @ls.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: RulesServer, params: t.DidCloseTextDocumentParams):
        await ls.check(params.text_document.uri, analyse=False)  # the file on disk counts again

    def located(ls: RulesServer, params):
        """(the document's (index, folder), its text, line, character) at the request's
        position, or None when the document has no text or no knowledge base."""
        uri = params.text_document.uri
        text = ls.text(uri)
        found = ls.index(uri) if text is not None else None
        if found is None:
            return None
        return (found, text, *ls.position_in(text, params.position))

    def target(ls: RulesServer, params) -> tuple[Target, Index, Path, str, int] | None:
        at = located(ls, params)
        if at is None:
            return None
        found, text, line, character = at
        aimed = target_at(found[0], text, line, character)
        return (aimed, *found, text, line) if aimed else None

    @ls.feature(t.TEXT_DOCUMENT_HOVER)
    def hover(ls: RulesServer, params: t.HoverParams):
        found = target(ls, params)
        text = found and target_hover(found[1], found[0], found[3], found[4], found[2])
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text)) if text else None

    @ls.feature(t.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: RulesServer, params: t.DefinitionParams):
        found = target(ls, params)
        if not found:
            return None
        encode = ls.encoder()
        places = target_definitions(found[1], found[0], found[3], found[4])
        return [t.Location(uri=from_fs_path(p.file), range=encode(p.file, _range(p.line, p.column, p.end_line or None, p.end_column or None)))
                for p in places] or None

    kinds = {"value": t.CompletionItemKind.EnumMember, "item": t.CompletionItemKind.Constant,
             "setting": t.CompletionItemKind.Class, "concept": t.CompletionItemKind.Class,
             "document": t.CompletionItemKind.Reference, "attribute": t.CompletionItemKind.Field,
             "field": t.CompletionItemKind.Property, "keyword": t.CompletionItemKind.Keyword}

    @ls.feature(t.TEXT_DOCUMENT_COMPLETION, t.CompletionOptions(trigger_characters=["(", ","]))
    def completion(ls: RulesServer, params: t.CompletionParams):
        at = located(ls, params)
        if at is None:
            return None
        found, text, line, character = at
        lines = text.split("\n")
        before = lines[line][:character] if line < len(lines) else ""
        text_before = "\n".join(lines[max(0, line - 30):line] + [before])
        items = [t.CompletionItem(label=c.label, kind=kinds[c.kind], detail=c.detail or None)
                 for c in completions(found[0], before, text_before)]
        return t.CompletionList(is_incomplete=False, items=items)

    return ls


def main() -> None:
    """Run the server on stdin/stdout until the client says exit; exit code 1 when it did not
    say shutdown first (the protocol's rule), 0 otherwise."""
    logging.basicConfig(level=logging.WARNING if not os.environ.get("ONCOLOGIC_DEBUG") else logging.DEBUG)
    ls = server()
    ls.start_io()
    ls.executor.shutdown(wait=False, cancel_futures=True)
    raise SystemExit(0 if ls.protocol._shutdown else 1)
