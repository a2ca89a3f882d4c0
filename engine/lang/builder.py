"""Stage 2: lark parse tree → AST (:mod:`oncologic.nodes`).

One method per grammar rule, in the style of lark's Transformer. Structural problems that the
grammar cannot express (a recommendation without items, two `for` clauses, ...) are collected
as diagnostics here; name resolution and types are the checker's job.
"""
from __future__ import annotations

import datetime
import unicodedata

from lark import Token, Transformer, Tree, v_args

from . import nodes as n
from ..errors import Diagnostic
from .parser import reserved_words


def _text(token: Token) -> str:
    """The content of a STRING token, with \\" and \\\\ unescaped."""
    raw = str(token)[1:-1]
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


def _number(token: Token) -> int | float:
    text = str(token)
    return float(text) if "." in text else int(text)


@v_args(meta=True)
class AstBuilder(Transformer):
    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename
        self.diagnostics: list[Diagnostic] = []

    # -- helpers --
    def _pos(self, meta) -> n.Pos:
        """Where a tree was written, from its first character to its last."""
        return n.Pos(self.filename, getattr(meta, "line", 0), getattr(meta, "column", 0),
                     getattr(meta, "end_line", 0), getattr(meta, "end_column", 0))

    def _head(self, meta, name: Token) -> n.Pos:
        """Where a statement was written: its head, from its first word to the end of its name."""
        return n.Pos(self.filename, getattr(meta, "line", 0), getattr(meta, "column", 0), name.end_line, name.end_column)

    def _at(self, token: Token) -> n.Pos:
        return n.Pos(self.filename, token.line, token.column, token.end_line, token.end_column)

    def _error(self, pos: n.Pos, message: str, code: str) -> None:
        self.diagnostics.append(Diagnostic(pos.file, pos.line, pos.column, message, code=code,
                                           end_line=pos.end_line or None, end_column=pos.end_column or None))

    def _declares(self, token: Token) -> None:
        """A name declared here must not be a reserved word of the language (E005)."""
        if str(token) in reserved_words():
            self._error(self._at(token), f"'{token}' is a reserved word of the rule language; choose another name", "E005")

    # -- file --
    def start(self, meta, statements):
        kinds = (n.Document, n.Grading, n.Attribute, n.Item, n.Rule)  # the order of Module's lists
        return n.Module(self.filename, *([st for st in statements if type(st) is kind] for kind in kinds),
                        systems=[st for st in statements if type(st) is n.CodeSystem])

    # -- code systems and codes --
    def system(self, meta, children):
        name, uri = children
        self._declares(name)
        return n.CodeSystem(str(name), _text(uri), self._head(meta, name))

    def code(self, meta, children):
        system, code = children
        return ("code", n.Code(str(system), _text(code), self._at(system)))

    # -- documents --
    def document(self, meta, children):
        name, filename, *clauses = children
        self._declares(name)
        title, titles = None, ()
        labels = []
        for kind, value, *_ in clauses:
            if kind == "title":
                title, titles = value
            else:
                labels.extend(value)
        return n.Document(str(name), _text(filename), title, tuple(labels), self._head(meta, name), titles)

    def title(self, meta, children):
        return ("title", children[0], self._pos(meta))

    def texts(self, meta, children):
        """A text as written, or in languages: (the English or plain text, the texts by
        language; empty for a plain text)."""
        if len(children) == 1 and isinstance(children[0], Token):
            return (_text(children[0]), ())
        by_lang = tuple(children)
        langs = [lang for lang, _ in by_lang]
        pos = self._pos(meta)
        for lang in sorted({lang for lang in langs if langs.count(lang) > 1}):
            self._error(pos, f"the text is given twice in '{lang}'; give each language once", "E009")
        if "en" not in langs:
            self._error(pos, 'a text in languages needs its English one (en "..."): the JSON output carries it', "E010")
        return (dict(by_lang).get("en", by_lang[0][1]), by_lang)

    def grading(self, meta, children):
        name, document, *clauses = children
        self._declares(name)
        lines = tuple((value[0], value[1], pos) for key, value, pos in clauses if key == "line")
        sources = tuple(value for key, value, pos in clauses if key == "sources")
        return n.Grading(str(name), str(document), lines, sources, self._head(meta, document))

    def grade_line(self, meta, children):
        return ("line", (str(children[0]), children[1]), self._at(children[0]))  # at the strength

    def label(self, meta, children):
        return ("labels", tuple(children), self._pos(meta))

    def lang_text(self, meta, children):
        return (str(children[0].children[0]), _text(children[1]))

    # -- attributes --
    def attribute(self, meta, children):
        name, type_, *clauses = children
        self._declares(name)
        labels, derive, required, values, applies, codes, value_codes = [], None, False, [], None, [], []
        for kind, value, *rest in clauses:
            if kind == "labels":
                labels.extend(value)
            elif kind == "code":
                codes.append(value)
            elif kind == "derive":
                derive = value
            elif kind == "required":
                required = True
            elif kind == "value_label":
                if type_.kind not in ("enum", "set"):
                    self._error(rest[0], f"attribute '{name}' is {n.a_kind(type_.kind)}: only the values of an enum or a set "
                                         f"(of listed values) take labels", "E209")
                elif value[0] not in type_.values:
                    self._error(rest[0], f"attribute '{name}' has no value '{value[0]}' to label "
                                         f"(its values: {', '.join(type_.values)})", "E105")
                elif value[1] and any(v == value[0] for v, labels in values if labels):
                    self._error(rest[0], f"attribute '{name}': value '{value[0]}' is labelled twice", "E011")
                if value[1]:
                    values.append((value[0], value[1]))
                value_codes.extend((value[0], code) for code in value[2])
            elif kind == "gate":
                if applies is not None:
                    self._error(rest[0], f"attribute '{name}' has more than one 'applies when' clause", "E011")
                applies = value
        return n.Attribute(str(name), type_, tuple(labels), derive, required, self._head(meta, name),
                           values=tuple(values), applies=applies, codes=tuple(codes),
                           value_codes=tuple(value_codes))

    def value_label(self, meta, children):
        """``value NAME label ... code ...``: (name, its labels, its codes), at the value."""
        labels = tuple(text for clause in children[1:] if clause[0] == "labels" for text in clause[1])
        codes = tuple(clause[1] for clause in children[1:] if clause[0] == "code")
        return ("value_label", (str(children[0]), labels, codes), self._at(children[0]))

    def applies(self, meta, children):
        return ("gate", children[0], self._pos(meta))

    def population(self, meta, children):
        return ("population", (children[0], children[1]), self._pos(meta))

    def derive_difference(self, meta, children):
        return ("derive", (str(children[0]), str(children[1])))

    def required(self, meta, children):
        return ("required", True)

    def enum_type(self, meta, children):
        for token in children[0].tokens:
            self._declares(token)
        return n.TypeSpec("enum", values=tuple(children[0]))

    def set_type(self, meta, children):
        for token in children[0].tokens:
            self._declares(token)
        return n.TypeSpec("set", values=tuple(children[0]))

    def item_set_type(self, meta, children):
        return n.TypeSpec("item_set")

    def bool_type(self, meta, children):
        return n.TypeSpec("bool")

    def date_type(self, meta, children):
        return n.TypeSpec("date")

    def string_type(self, meta, children):
        return n.TypeSpec("string")

    def scalar_type(self, meta, children):
        kind = str(children[0].children[0])
        low = high = None
        if len(children) > 1:
            low, high = children[1]
        return n.TypeSpec(kind, low=low, high=high)

    def range_both(self, meta, children):
        return (children[0], children[1])

    def range_low(self, meta, children):
        return (children[0], None)

    def range_high(self, meta, children):
        return (None, children[0])

    def record_list_type(self, meta, children):
        return n.TypeSpec("record_list", fields=tuple(children))

    def field(self, meta, children):
        self._declares(children[0])
        return n.Field(str(children[0]), children[1], self._at(children[0]))

    # -- items --
    def item(self, meta, children):
        kind_tree, name, *clauses = children
        self._declares(name)
        isa, labels, codes = [], [], []
        for kind, value, *_ in clauses:
            if kind == "isa":
                isa.extend(value)
            elif kind == "code":
                codes.append(value)
            else:
                labels.extend(value)
        return n.Item(str(kind_tree.children[0]), str(name), tuple(isa), tuple(labels), self._head(meta, name),
                      codes=tuple(codes))

    def isa(self, meta, children):
        return ("isa", children[0])

    def id_list(self, meta, children):
        return _Names(children)

    # -- rules --
    def concept(self, meta, children):
        kind_tree, name, *clauses = children
        kind = str(kind_tree.children[0])
        self._declares(name)
        return self._rule(kind, str(name), clauses, self._head(meta, name), concludes=str(name))

    def recommendation(self, meta, children):
        name, *clauses = children
        self._declares(name)
        return self._rule("recommendation", str(name), clauses, self._head(meta, name))

    def contraindication(self, meta, children):
        name, *clauses = children
        self._declares(name)
        return self._rule("contraindication", str(name), clauses, self._head(meta, name))

    def _rule(self, kind, name, clauses, pos, concludes=None):
        fields: dict = {"sources": [], "notes": [], "labels": [], "conditions": []}
        places: list[tuple[str, n.Pos]] = []
        singles = {"setting", "polarity", "strength", "evidence", "grade", "consensus", "reason", "id", "gate", "population"}
        flat = [entry for clause in clauses for entry in (clause if isinstance(clause, _Multi) else (clause,))]
        for key, value, cpos in flat:
            if key == "item":
                places.append((f"item:{value}", cpos))
                continue
            if key not in dict(places):
                places.append((key, value[1] if key == "setting" else cpos))  # a setting: its name
            if key in ("sources", "notes", "labels", "conditions"):
                fields[key].extend(value if key == "labels" else [value])
            elif key in singles:
                if key in fields:
                    self._error(cpos, f"{kind} '{name}' has more than one '{_CLAUSE_WORD[key]}' clause", "E011")
                fields[key] = value
            elif key == "regimens":
                if "regimens" in fields:
                    self._error(cpos, f"{kind} '{name}' has more than one list of items; write them in one clause, separated by commas", "E011")
                fields["regimens"] = value
        if kind in ("concept", "setting"):
            rule_id = fields.get("id", name)
        else:
            rule_id = name
            if "id" in fields:
                self._error(dict(places)["id"], f"'id' is for concept rules; the {kind} is already named '{name}'", "E310")
        conditions = fields["conditions"]
        condition = None
        if len(conditions) == 1:
            condition = conditions[0]
        elif len(conditions) > 1:
            condition = n.And(tuple(conditions), conditions[0].pos if hasattr(conditions[0], "pos") else pos)
        setting = fields.get("setting")
        if setting is not None:
            ref = n.Ref(setting[0], setting[1])
            condition = ref if condition is None else n.And((ref, condition), pos)
            setting = setting[0]
        gate = fields.get("gate")
        if gate is not None and condition is not None:  # without a condition: the checker says so
            condition = n.And((gate, condition), pos, gated=True)
        return n.Rule(
            kind=kind,
            id=rule_id,
            name=concludes,
            condition=condition,
            setting=setting,
            polarity=fields.get("polarity"),
            regimens=tuple(fields.get("regimens", ())),
            strength=fields.get("strength"),
            evidence=fields.get("evidence"),
            grade=fields.get("grade"),
            consensus=fields.get("consensus"),
            sources=tuple(fields["sources"]),
            notes=tuple(text for text, _ in fields["notes"]),
            note_labels=tuple(by_lang for _, by_lang in fields["notes"]),
            reason=fields["reason"][0] if "reason" in fields else None,
            reason_labels=fields["reason"][1] if "reason" in fields else (),
            labels=tuple(fields["labels"]),
            pos=pos,
            gate=gate,
            population=fields["population"][0] if "population" in fields else None,
            population_text=fields["population"][1][0] if "population" in fields else None,
            population_labels=fields["population"][1][1] if "population" in fields else (),
            places=tuple(places),
        )

    def condition(self, meta, children):
        return ("conditions", children[0], self._pos(meta))

    def for_setting(self, meta, children):
        name = self._at(children[0])  # the setting's name: the condition's first term
        return ("setting", (str(children[0]), name), self._pos(meta))

    def rule_id(self, meta, children):
        return ("id", str(children[0]), self._pos(meta))

    def recommend(self, meta, children):
        return self._regimens(meta, "recommend", children[0])

    def do_not_recommend(self, meta, children):
        return self._regimens(meta, "do_not_recommend", children[0])

    def _regimens(self, meta, polarity, regimens) -> "_Multi":
        pos = self._pos(meta)
        items = [("item", str(t), self._at(t)) for regimen in regimens for t in regimen]
        names = tuple(tuple(str(t) for t in regimen) for regimen in regimens)
        return _Multi(("polarity", polarity, pos), ("regimens", names, pos), *items)

    def avoid(self, meta, children):
        pos = self._pos(meta)
        items = [("item", str(t), self._at(t)) for t in children[0].tokens]
        return _Multi(("regimens", tuple((item,) for item in children[0]), pos), *items)

    def strength(self, meta, children):
        return ("strength", str(children[0]), self._pos(meta))

    def evidence(self, meta, children):
        return ("evidence", str(children[0]), self._pos(meta))

    def grade(self, meta, children):
        return ("grade", _text(children[0]), self._pos(meta))

    def consensus(self, meta, children):
        return ("consensus", children[0], self._pos(meta))

    def source(self, meta, children):
        pos = self._pos(meta)
        return ("sources", n.Citation(str(children[0]), _text(children[1]), pos), pos)

    def note(self, meta, children):
        return ("notes", children[0], self._pos(meta))

    def because(self, meta, children):
        return ("reason", children[0], self._pos(meta))

    def regimens(self, meta, children):
        return tuple(children)

    def regimen(self, meta, children):
        return tuple(children)  # the tokens: ``_regimens`` keeps where each item was written

    # -- conditions --
    # The grammar gives `a or b or c` as one node with all its terms (not nested pairs, so a
    # chain of thousands of terms is one level deep). A first term that is itself a
    # parenthesised `or` is merged in, as when the chain was built pair by pair.
    def or_(self, meta, children):
        first, *rest = children
        return n.Or((first.items if isinstance(first, n.Or) else (first,)) + tuple(rest), self._pos(meta))

    def and_(self, meta, children):
        first, *rest = children
        return n.And((first.items if isinstance(first, n.And) else (first,)) + tuple(rest), self._pos(meta))

    def not_(self, meta, children):
        return n.Not(children[0], self._pos(meta))

    def compare(self, meta, children):
        attr, op, value = children
        op = {"≤": "<=", "≥": ">=", "≠": "!="}.get(str(op), str(op))
        return n.Compare(str(attr), op, value, self._pos(meta))

    def one_of(self, meta, children):
        return n.OneOf(str(children[0]), children[1], self._pos(meta))

    def has(self, meta, children):
        return n.Has(str(children[0]), (children[1],), self._pos(meta))

    def has_any(self, meta, children):
        return n.Has(str(children[0]), children[1], self._pos(meta))

    def is_empty(self, meta, children):
        return n.IsEmpty(str(children[0]), self._pos(meta))

    def is_known(self, meta, children):
        return n.IsKnown(str(children[0]), self._pos(meta))

    def any_record(self, meta, children):
        return n.AnyRecord(str(children[0]), children[1], self._pos(meta))

    def ref(self, meta, children):
        return n.Ref(str(children[0]), self._pos(meta))

    # -- values --
    def value_list(self, meta, children):
        return tuple(children)

    def quantity(self, meta, children):
        unit = str(children[1]) if len(children) > 1 else None
        return n.Quantity(_number(children[0]), unit)

    def symbol(self, meta, children):
        return n.Symbol(str(children[0]))

    def text(self, meta, children):
        return n.Text(_text(children[0]))

    def date(self, meta, children):
        """A date literal, read digit by digit as numbers are (full-width ``２０２６-０１-０１`` is
        2026-01-01: the grammar's digits are Unicode's, as ``int`` reads them) and checked on
        the calendar: ``2026-13-01`` and ``2026-02-30`` are errors, never text compared as text."""
        written = str(children[0])
        iso = "".join(str(unicodedata.decimal(c)) if c != "-" else c for c in written)
        try:
            datetime.date.fromisoformat(iso)
        except ValueError as err:
            shown = written if written == iso else f"{written} ({iso})"
            self._error(self._pos(meta), f"'{shown}' is not a date: {err}", "E205")
        return n.DateValue(iso)

    def true(self, meta, children):
        return n.BoolValue(True)

    def false(self, meta, children):
        return n.BoolValue(False)


class _Names(tuple):
    """The names of an ``id_list`` as text, with their tokens (``tokens``: where each was written)."""

    def __new__(cls, tokens):
        names = super().__new__(cls, (str(t) for t in tokens))
        names.tokens = tuple(tokens)
        return names


class _Multi(tuple):
    """Several clause entries produced by one clause (``recommend`` sets polarity and items)."""

    def __new__(cls, *entries):
        return super().__new__(cls, entries)


_CLAUSE_WORD = {
    "setting": "for", "polarity": "recommend", "strength": "strength", "evidence": "evidence",
    "grade": "grade", "consensus": "consensus", "reason": "because", "id": "id", "gate": "applies when", "population": "population",
}


def build_module(tree: Tree | None, filename: str, failed=()) -> tuple[n.Module, list[Diagnostic]]:
    """The AST of one parsed rule file (no statement when ``tree`` is None: a file that could
    not be read), and the problems found building it. ``failed`` lists
    ``(kind, name, line, column)`` for the names its dropped statements declared
    (:class:`oncologic.lang.parser.Parsed`); the module keeps them (``Module.failed``)."""
    builder = AstBuilder(filename)
    module = builder.transform(tree) if tree is not None else n.Module(filename, [], [], [], [], [])
    module.failed = [(kind, name, n.Pos(filename, line, column)) for kind, name, line, column in failed]
    return module, builder.diagnostics
