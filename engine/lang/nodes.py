"""The abstract syntax tree of the rule language.

The parse tree (lark) is turned into these nodes by :mod:`oncologic.lang.builder`; the checker
(:mod:`oncologic.model.checks`) resolves names and normalises units on them, and the compiler
(:mod:`oncologic.compile.compiler`) turns them into Datalog. Nodes are immutable. Code that
treats each kind of node its own way is a :class:`~oncologic.lang.visitor.Visitor`; the
helpers at the end (``walk``, ``constant``, ``value_text``, ``to_source``) are four.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ..values import Record, Value as _Value
from .visitor import Visitor


@dataclass(frozen=True, eq=False, repr=False)
class Pos(_Value):
    """Where a node was written: file, line and column (1-based), and where it ends
    (``end_column`` exclusive, as lark's; 0 when unknown). A statement's position is its head
    (``concept NAME``), a condition's the whole condition, a clause's the clause."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# The negation of each operator a condition can show (CONTRACT §4, ``Condition.op``): the
# comparisons of the rule language, then the forms of the other tests. The one table of them.
NEGATED_OP = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "not in",
              "has": "does not have", "has any of": "has none of", "is empty": "is not empty",
              "is known": "is unknown", "any where": "no record where", "is": "is not"}

Labels = tuple[tuple[str, str], ...]  # (("en", "..."), ("zh", "..."))

_KIND_WORDS = {"enum": "an enum", "int": "an int", "item_set": "a set of items", "record_list": "a list of records"}


def a_kind(kind: str) -> str:
    """A kind of attribute (or item) as a message says it: ``an enum``, ``a duration``, ``a set
    of items``, ``a drug``."""
    return _KIND_WORDS.get(kind, f"a {kind}")


def label_of(labels: Labels, lang: str) -> str | None:
    return dict(labels).get(lang)


def text_in(text: str | None, labels: Labels, lang: str) -> str | None:
    """A note, reason or title in ``lang``: the language's own text, else the text as written."""
    return label_of(labels, lang) or text


# ---- values -------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Quantity(_Value):
    """A number with an optional unit as written; ``unit`` is None for a bare number."""

    value: int | float
    unit: str | None = None
    written: str | None = None  # as the author wrote it ("3mo"), kept for explanations


@dataclass(frozen=True, eq=False, repr=False)
class Symbol(_Value):
    """A bare name used as a value: an enum value or an item (drug, class, ...)."""

    name: str


@dataclass(frozen=True, eq=False, repr=False)
class Text(_Value):
    """A quoted string value in a condition."""

    value: str


@dataclass(frozen=True, eq=False, repr=False)
class DateValue(_Value):
    """A date literal (``2026-01-15``), checked on the calendar."""

    iso: str


@dataclass(frozen=True, eq=False, repr=False)
class BoolValue(_Value):
    """``true`` or ``false`` as written in a condition."""

    value: bool


Value = Union[Quantity, Symbol, Text, DateValue, BoolValue]


# ---- vocabulary ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class TypeSpec(_Value):
    """The type of an attribute.

    kind: enum, int, number, duration, percent, length, bool, date, string, set, item_set,
    record_list. ``values`` is the allowed set for enum and set; ``low``/``high`` the range;
    ``fields`` the fields of a record in a list of records.
    """

    kind: str
    values: tuple[str, ...] = ()
    low: Quantity | None = None
    high: Quantity | None = None
    fields: tuple["Field", ...] = ()


@dataclass(frozen=True, eq=False, repr=False)
class Field(_Value):
    """One field of a ``list of {...}`` attribute: its name and type."""

    name: str
    type: TypeSpec
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class Document(_Value):
    """A source document: its id, file name, title (one or by language) and labels."""

    name: str
    filename: str
    title: str | None  # the English title (or the one title as written)
    labels: Labels
    pos: Pos
    titles: Labels = ()  # the title by language, when written in languages (`title en "..." zh "..."`)

    def title_in(self, lang: str) -> str | None:
        return label_of(self.titles, lang) or self.title


@dataclass(frozen=True, eq=False, repr=False)
class Grading(_Value):
    """A grading scheme for the recommendations citing ``document``: (strength, condition)
    lines, first match wins; conditions test ``evidence`` and ``consensus``."""

    name: str
    document: str
    lines: tuple[tuple[str, "Condition", Pos], ...]
    sources: tuple["Citation", ...]
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class Code(_Value):
    """``code SYSTEM "CODE"``: how an attribute, a value or an item is coded in FHIR records;
    ``system`` names a ``system`` statement."""

    system: str
    code: str
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class CodeSystem(_Value):
    """``system NAME "URI"``: a code system declared once (SNOMED CT, LOINC, a local one)."""

    name: str
    uri: str
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class Attribute(_Value):
    """An attribute of patient records: name, type, labels, a derivation (``derive later -
    earlier``), whether required, value labels and its ``applies when``."""

    name: str
    type: TypeSpec
    labels: Labels
    derive: tuple[str, str] | None  # (later_date, earlier_date): the difference in days
    required: bool
    pos: Pos
    values: tuple[tuple[str, Labels], ...] = ()  # labels of enum/set values: `value sd label zh "..."`
    # `applies when`: the patients the attribute means anything for. Outside them an absent
    # attribute is not applicable (every test of it fails); the checker writes this into each
    # test of the attribute in the rules (see :class:`And`, ``gated``).
    applies: "Condition | None" = None
    codes: tuple[Code, ...] = ()  # the attribute's own codes (LOINC 89247-1 for ECOG)
    value_codes: tuple[tuple[str, Code], ...] = ()  # (value, code) of enum/set values


@dataclass(frozen=True, eq=False, repr=False)
class Item(_Value):
    """A drug, class, procedure, action or group; ``isa`` names its classes."""

    kind: str
    name: str
    isa: tuple[str, ...]
    labels: Labels
    pos: Pos
    codes: tuple[Code, ...] = ()  # RxNorm ingredient codes of a drug, ...


# ---- conditions ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Compare(_Value):
    """``attribute OP value``; OP is one of = != < <= > >=."""

    attribute: str
    op: str
    value: Value
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class OneOf(_Value):
    """``attribute in (v1, v2, ...)``."""

    attribute: str
    values: tuple[Value, ...]
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class Has(_Value):
    """``attribute has any of (v1, ...)``; ``attribute has v`` is the one-value case."""

    attribute: str
    values: tuple[Value, ...]
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class IsEmpty(_Value):
    """``ATTRIBUTE is empty``: a set or list recorded with no element."""

    attribute: str
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class IsKnown(_Value):
    """``ATTRIBUTE is known``: the record gives the attribute (two-valued, reads the record)."""

    attribute: str
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class AnyRecord(_Value):
    """``any adverse_events where (grade >= 3 and cause = immune)``."""

    attribute: str
    condition: "Condition"
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class Ref(_Value):
    """A bare name in a condition: a concept, or a bool attribute (resolved by the checker)."""

    name: str
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class ConceptRef(_Value):
    """A reference to a concept in a condition, resolved by the checker."""

    name: str
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class And(_Value):
    """A conjunction. ``gated``: a relevance gate, exactly two items — ``items[0]`` says when
    ``items[1]`` is relevant at all (a rule's ``applies when``, or ``A is known or G`` for a
    test of an attribute declared ``applies when G``). For verdicts it is a plain ``and``;
    the questions of an undecided one are its gate's while the gate is undecided, and an
    explanation says "does not apply" when the gate fails."""

    items: tuple["Condition", ...]
    pos: Pos
    gated: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Or(_Value):
    """``A or B or ...``: the items, n-ary."""

    items: tuple["Condition", ...]
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class Not(_Value):
    """``not A``."""

    item: "Condition"
    pos: Pos


Leaf = Union[Compare, OneOf, Has, IsEmpty, IsKnown, AnyRecord]
Condition = Union[Leaf, Ref, ConceptRef, And, Or, Not]


# ---- rules --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Citation(_Value):
    """A rule's source: a document id and the table or section (``locator``)."""

    document: str
    locator: str
    pos: Pos


@dataclass(frozen=True, eq=False, repr=False)
class Rule(_Value):
    """A concept or setting definition, a recommendation, or a contraindication.

    kind: concept, setting, recommendation, contraindication. For a recommendation,
    ``polarity`` is "recommend" or "do_not_recommend" and ``regimens`` lists the item ids of
    each regimen it concludes; for a contraindication ``regimens`` holds the avoided items.
    ``condition`` is the whole condition, the setting included.
    """

    kind: str
    id: str
    name: str | None  # the concept or setting a concept rule concludes
    condition: Condition | None  # with the gate: ``And((gate, rest), gated=True)``
    setting: str | None = None
    polarity: str | None = None
    regimens: tuple[tuple[str, ...], ...] = ()
    strength: str | None = None
    evidence: str | None = None
    grade: str | None = None
    consensus: Quantity | None = None
    sources: tuple[Citation, ...] = ()
    notes: tuple[str, ...] = ()  # in English (or as written)
    note_labels: tuple[Labels, ...] = ()  # each note by language (empty: a note as written)
    reason: str | None = None  # in English (or as written)
    reason_labels: Labels = ()
    labels: Labels = ()
    pos: Pos = field(default=Pos("?", 0, 0))
    gate: Condition | None = None  # `applies when`: also the first item of ``condition``
    population: Condition | None = None  # `population EXPR "..."`: soft, a flag where EXPR is false
    population_text: str | None = None  # its description
    population_labels: Labels = ()  # the description by language (`population EXPR en "..." zh "..."`)
    # where the clauses were written, for diagnostics: ("setting", pos), ("strength", pos),
    # ("consensus", pos), ("polarity", pos), ("id", pos), ("population", pos), ("item", pos) for
    # each item of the regimens in order, ...
    places: tuple[tuple[str, Pos], ...] = ()

    def place(self, key: str) -> Pos:
        """Where the clause ``key`` was written, else the rule's head."""
        return next((pos for k, pos in self.places if k == key), self.pos)


def gate_parts(cond) -> tuple | None:
    """(gate, body) of a relevance gate (an ``And`` with ``gated``), else None."""
    if isinstance(cond, And) and cond.gated:
        return cond.items[0], cond.items[1]
    return None


def gated_attribute(cond) -> str | None:
    """The attribute whose ``applies when`` a gate stands for (its gate reads ``A is known or
    ...`` and its body tests A), or None for a rule's gate."""
    parts = gate_parts(cond)
    if parts is None:
        return None
    gate, body = parts
    if isinstance(gate, Or) and isinstance(gate.items[0], IsKnown) and getattr(body, "attribute", None) == gate.items[0].attribute:
        return gate.items[0].attribute
    return None


def relevance_source(cond) -> str:
    """The relevance expression of a gate as its author wrote it (without ``A is known or``)."""
    gate, _ = gate_parts(cond)
    if gated_attribute(cond) is not None:
        rest = gate.items[1:]
        return to_source(rest[0]) if len(rest) == 1 else to_source(Or(rest, gate.pos))
    return to_source(gate)


@dataclass(eq=False, repr=False)
class Module(Record):
    """One rule file: its statements in order."""

    file: str
    documents: list[Document]
    gradings: list[Grading]
    attributes: list[Attribute]
    items: list[Item]
    rules: list[Rule]
    # names declared by statements that failed to parse (dropped from the lists above):
    # (kind, name, where); references to them elsewhere are not reported
    failed: list[tuple[str, str, Pos]] = field(default_factory=list)
    systems: list[CodeSystem] = field(default_factory=list)


def regimen_id(items: tuple[str, ...]) -> str:
    """CONTRACT §2: the item ids sorted alphabetically and joined with '+'."""
    return "+".join(sorted(items))


class _Children(Visitor):
    """The conditions directly inside a condition."""

    def visit_And(self, cond) -> tuple:
        return cond.items

    visit_Or = visit_And

    def visit_Not(self, cond) -> tuple:
        return (cond.item,)

    def visit_AnyRecord(self, cond) -> tuple:
        return (cond.condition,)

    def _leaf(self, cond) -> tuple:
        return ()

    visit_Compare = visit_OneOf = visit_Has = visit_IsEmpty = visit_IsKnown = visit_Ref = visit_ConceptRef = _leaf


class _Constant(Visitor):
    def visit_Quantity(self, value: Quantity):
        return value.value

    def visit_Symbol(self, value: Symbol):
        return value.name

    def visit_BoolValue(self, value: BoolValue | Text):
        return value.value

    visit_Text = visit_BoolValue

    def visit_DateValue(self, value: DateValue):
        return value.iso


class _ValueText(Visitor):
    def visit_Quantity(self, value: Quantity) -> str:
        return value.written or f"{value.value}{value.unit or ''}"

    def visit_Symbol(self, value: Symbol) -> str:
        return value.name

    def visit_BoolValue(self, value: BoolValue) -> str:
        return "true" if value.value else "false"

    def visit_DateValue(self, value: DateValue) -> str:
        return value.iso

    def visit_Text(self, value: Text) -> str:
        return '"' + value.value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Source(Visitor):
    """A condition written back in the rule language."""

    def visit_And(self, cond: And) -> str:
        if cond.gated and gated_attribute(cond) is not None:
            return self.visit(cond.items[1])  # a test of an attribute, as written: its gate is the attribute's
        return " and ".join(self._wrapped(c, Or) for c in cond.items)

    def visit_Or(self, cond: Or) -> str:
        return " or ".join(self._wrapped(c, And) for c in cond.items)

    def visit_Not(self, cond: Not) -> str:
        return f"not {self._wrapped(cond.item, And, Or)}"

    def visit_Compare(self, cond: Compare) -> str:
        if cond.value == BoolValue(True) and cond.op == "=":
            return cond.attribute
        return f"{cond.attribute} {cond.op} {value_text(cond.value)}"

    def visit_OneOf(self, cond: OneOf) -> str:
        return f"{cond.attribute} in ({_texts(cond.values)})"

    def visit_Has(self, cond: Has) -> str:
        if len(cond.values) == 1:
            return f"{cond.attribute} has {value_text(cond.values[0])}"
        return f"{cond.attribute} has any of ({_texts(cond.values)})"

    def visit_IsEmpty(self, cond: IsEmpty) -> str:
        return f"{cond.attribute} is empty"

    def visit_IsKnown(self, cond: IsKnown) -> str:
        return f"{cond.attribute} is known"

    def visit_AnyRecord(self, cond: AnyRecord) -> str:
        return f"any {cond.attribute} where ({self.visit(cond.condition)})"

    def visit_Ref(self, cond: Ref | ConceptRef) -> str:
        return cond.name

    visit_ConceptRef = visit_Ref

    def _wrapped(self, cond: Condition, *looser: type) -> str:
        """``cond`` in parentheses when it is one of the ``looser`` connectives."""
        text = self.visit(cond)
        leaf = isinstance(cond, And) and gated_attribute(cond) is not None  # written as its test
        return f"({text})" if type(cond) in looser and not leaf else text


_CHILDREN, _CONSTANT, _VALUE_TEXT, _SOURCE = _Children(), _Constant(), _ValueText(), _Source()


def walk(condition: Condition):
    """Every node of a condition, depth first, the node itself first."""
    stack = [condition]  # iterative: a condition's depth is bounded (lang.limits) but not small
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(_CHILDREN.visit(node)))


def children(condition: Condition) -> tuple:
    """The conditions directly inside a condition (none for a test or a reference)."""
    return _CHILDREN.visit(condition)


def constant(value: Value):
    """The plain Python value a rule value stands for (canonical units for quantities)."""
    return _CONSTANT.visit(value)


def value_text(value: Value) -> str:
    """A value as the rule language writes it (a quantity as its author wrote it)."""
    return _VALUE_TEXT.visit(value)


def _texts(values) -> str:
    return ", ".join(map(value_text, values))


def to_source(cond: Condition) -> str:
    """A condition written back in the rule language."""
    return _SOURCE.visit(cond)
