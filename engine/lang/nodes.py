"""The abstract syntax tree of the rule language.

The parse tree (lark) is turned into these nodes by :mod:`oncologic.ast_builder`; the checker
(:mod:`oncologic.checks`) resolves names and normalises units on them, and the compiler
(:mod:`oncologic.compiler`) turns them into Datalog. Nodes are immutable.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Pos:
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# The negation of each operator a condition can show (CONTRACT §4, ``Condition.op``): the
# comparisons of the rule language, then the forms of the other tests. The one table of them.
NEGATED_OP = {"=": "!=", "!=": "=", "<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "not in",
              "has": "does not have", "has any of": "has none of", "is empty": "is not empty",
              "is known": "is unknown", "any where": "no record where", "is": "is not"}

Labels = tuple[tuple[str, str], ...]  # (("en", "..."), ("zh", "..."))


def label_of(labels: Labels, lang: str) -> str | None:
    return dict(labels).get(lang)


# ---- values -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Quantity:
    """A number with an optional unit as written; ``unit`` is None for a bare number."""

    value: int | float
    unit: str | None = None
    written: str | None = None  # as the author wrote it ("3mo"), kept for explanations


@dataclass(frozen=True)
class Symbol:
    """A bare name used as a value: an enum value or an item (drug, class, ...)."""

    name: str


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class DateValue:
    iso: str


@dataclass(frozen=True)
class BoolValue:
    value: bool


Value = Union[Quantity, Symbol, Text, DateValue, BoolValue]


# ---- vocabulary ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TypeSpec:
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


@dataclass(frozen=True)
class Field:
    name: str
    type: TypeSpec
    pos: Pos


@dataclass(frozen=True)
class Document:
    name: str
    filename: str
    title: str | None
    labels: Labels
    pos: Pos


@dataclass(frozen=True)
class Grading:
    """A grading scheme for the recommendations citing ``document``: (strength, condition)
    lines, first match wins; conditions test ``evidence`` and ``consensus``."""

    name: str
    document: str
    lines: tuple[tuple[str, "Condition", Pos], ...]
    sources: tuple["Citation", ...]
    pos: Pos


@dataclass(frozen=True)
class Attribute:
    name: str
    type: TypeSpec
    labels: Labels
    derive: tuple[str, str] | None  # (later_date, earlier_date): the difference in days
    required: bool
    pos: Pos


@dataclass(frozen=True)
class Item:
    """A drug, class, procedure, action or group; ``isa`` names its classes."""

    kind: str
    name: str
    isa: tuple[str, ...]
    labels: Labels
    pos: Pos


# ---- conditions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Compare:
    """``attribute OP value``; OP is one of = != < <= > >=."""

    attribute: str
    op: str
    value: Value
    pos: Pos


@dataclass(frozen=True)
class OneOf:
    """``attribute in (v1, v2, ...)``."""

    attribute: str
    values: tuple[Value, ...]
    pos: Pos


@dataclass(frozen=True)
class Has:
    """``attribute has any of (v1, ...)``; ``attribute has v`` is the one-value case."""

    attribute: str
    values: tuple[Value, ...]
    pos: Pos


@dataclass(frozen=True)
class IsEmpty:
    attribute: str
    pos: Pos


@dataclass(frozen=True)
class IsKnown:
    attribute: str
    pos: Pos


@dataclass(frozen=True)
class AnyRecord:
    """``any adverse_events where (grade >= 3 and cause = immune)``."""

    attribute: str
    condition: "Condition"
    pos: Pos


@dataclass(frozen=True)
class Ref:
    """A bare name in a condition: a concept, or a bool attribute (resolved by the checker)."""

    name: str
    pos: Pos


@dataclass(frozen=True)
class ConceptRef:
    name: str
    pos: Pos


@dataclass(frozen=True)
class And:
    items: tuple["Condition", ...]
    pos: Pos


@dataclass(frozen=True)
class Or:
    items: tuple["Condition", ...]
    pos: Pos


@dataclass(frozen=True)
class Not:
    item: "Condition"
    pos: Pos


Leaf = Union[Compare, OneOf, Has, IsEmpty, IsKnown, AnyRecord]
Condition = Union[Leaf, Ref, ConceptRef, And, Or, Not]
LEAF_TYPES = (Compare, OneOf, Has, IsEmpty, IsKnown, AnyRecord)


# ---- rules --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Citation:
    document: str
    locator: str
    pos: Pos


@dataclass(frozen=True)
class Rule:
    """A concept or setting definition, a recommendation, or a contraindication.

    kind: concept, setting, recommendation, contraindication. For a recommendation,
    ``polarity`` is "recommend" or "do_not_recommend" and ``regimens`` lists the item ids of
    each regimen it concludes; for a contraindication ``regimens`` holds the avoided items.
    ``condition`` is the whole condition, the setting included.
    """

    kind: str
    id: str
    name: str | None  # the concept or setting a concept rule concludes
    condition: Condition | None
    setting: str | None = None
    polarity: str | None = None
    regimens: tuple[tuple[str, ...], ...] = ()
    strength: str | None = None
    evidence: str | None = None
    grade: str | None = None
    consensus: Quantity | None = None
    sources: tuple[Citation, ...] = ()
    notes: tuple[str, ...] = ()
    reason: str | None = None
    labels: Labels = ()
    pos: Pos = field(default=Pos("?", 0, 0))


@dataclass
class Module:
    """One rule file: its statements in order."""

    file: str
    documents: list[Document]
    gradings: list[Grading]
    attributes: list[Attribute]
    items: list[Item]
    rules: list[Rule]


def regimen_id(items: tuple[str, ...]) -> str:
    """CONTRACT §2: the item ids sorted alphabetically and joined with '+'."""
    return "+".join(sorted(items))


def walk(condition: Condition):
    """Every node of a condition, depth first, the node itself first."""
    yield condition
    if isinstance(condition, (And, Or)):
        for item in condition.items:
            yield from walk(item)
    elif isinstance(condition, Not):
        yield from walk(condition.item)
    elif isinstance(condition, AnyRecord):
        yield from walk(condition.condition)


def constant(value: Value):
    """The plain Python value a rule value stands for (canonical units for quantities)."""
    if isinstance(value, Quantity):
        return value.value
    if isinstance(value, Symbol):
        return value.name
    if isinstance(value, (BoolValue, Text)):
        return value.value
    if isinstance(value, DateValue):
        return value.iso
    raise AssertionError(value)  # pragma: no cover


def value_text(value: Value) -> str:
    if isinstance(value, Quantity):
        if value.written:
            return value.written
        return f"{value.value}{value.unit or ''}"
    if isinstance(value, Symbol):
        return value.name
    if isinstance(value, BoolValue):
        return "true" if value.value else "false"
    if isinstance(value, DateValue):
        return value.iso
    if isinstance(value, Text):
        return '"' + value.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise AssertionError(value)  # pragma: no cover


def to_source(cond: Condition) -> str:
    """A condition written back in the rule language."""
    if isinstance(cond, And):
        return " and ".join(_wrap(c, Or) for c in cond.items)
    if isinstance(cond, Or):
        return " or ".join(_wrap(c, And) for c in cond.items)
    if isinstance(cond, Not):
        inner = to_source(cond.item)
        return f"not ({inner})" if isinstance(cond.item, (And, Or)) else f"not {inner}"
    if isinstance(cond, Compare):
        if isinstance(cond.value, BoolValue) and cond.value.value and cond.op == "=":
            return cond.attribute
        return f"{cond.attribute} {cond.op} {value_text(cond.value)}"
    if isinstance(cond, OneOf):
        return f"{cond.attribute} in ({', '.join(value_text(v) for v in cond.values)})"
    if isinstance(cond, Has):
        if len(cond.values) == 1:
            return f"{cond.attribute} has {value_text(cond.values[0])}"
        return f"{cond.attribute} has any of ({', '.join(value_text(v) for v in cond.values)})"
    if isinstance(cond, IsEmpty):
        return f"{cond.attribute} is empty"
    if isinstance(cond, IsKnown):
        return f"{cond.attribute} is known"
    if isinstance(cond, AnyRecord):
        return f"any {cond.attribute} where ({to_source(cond.condition)})"
    if isinstance(cond, (Ref, ConceptRef)):
        return cond.name
    raise AssertionError(cond)  # pragma: no cover


def _wrap(cond: Condition, other: type) -> str:
    text = to_source(cond)
    return f"({text})" if isinstance(cond, other) else text
