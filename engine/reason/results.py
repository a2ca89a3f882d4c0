"""The JSON contract (CONTRACT.md §4) as typed results.

These dataclasses are what the Python API returns and, through :meth:`Model.to_dict`, exactly
what ``--format json`` prints. pydantic derives their JSON Schema (``oncologic schema``) and
validates output against it in the tests; it is imported only there, which keeps a cold
command-line run fast. Fields may be added, never renamed.
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..values import Record


class Model(Record):
    def to_dict(self) -> dict:
        """The result as plain JSON data: what ``dataclasses.asdict`` gives, without its deep
        copy of every leaf (4× faster on a full result; a cohort serialises one per patient)."""
        return _plain(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict) -> "Model":
        """The result back from :meth:`to_dict` (or its JSON, parsed): each field rebuilt by its
        declared type, nested results as their classes, so that ``from_dict(d).to_dict() == d``
        for what ``to_dict`` gives. Raises ``TypeError`` for a key the class does not have or a
        required one that is absent. Used by ``evaluate_many(..., workers=N)``, whose worker
        processes send each result as its JSON text (:mod:`oncologic.pool`)."""
        hints = _HINTS.get(cls)
        if hints is None:
            hints = _HINTS[cls] = typing.get_type_hints(cls)
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        return cls(**{key: _rebuilt(hints[key] if key in hints else typing.Any, value)
                      for key, value in data.items()})

    @classmethod
    def json_schema(cls) -> dict:
        from pydantic import TypeAdapter
        return TypeAdapter(cls).json_schema()


_FIELDS: dict[type, tuple[str, ...]] = {}
_HINTS: dict[type, dict] = {}


def _rebuilt(hint, value):
    """``value`` (plain JSON data) as the declared type ``hint`` holds it: a :class:`Model`
    from its dict, a list or dict of them element by element, anything else as it is."""
    if value is None:
        return None
    if isinstance(hint, type) and issubclass(hint, Model):
        return hint.from_dict(value)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is list and args:
        return [_rebuilt(args[0], v) for v in value]
    if origin is dict and len(args) == 2:
        return {k: _rebuilt(args[1], v) for k, v in value.items()}
    if origin is Union:
        models = [a for a in args if isinstance(a, type) and issubclass(a, Model)]
        return _rebuilt(models[0], value) if len(models) == 1 else value
    return value


def _plain(value):
    """Dataclasses as dicts (fields in declaration order), lists and tuples as their own type,
    dicts by key; every other value as it is (results hold only JSON scalars besides)."""
    names = _FIELDS.get(type(value))
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


@dataclass(kw_only=True, eq=False, repr=False)
class SourceRef(Model):
    """A source: ``document`` (file name), ``locator`` (table/section), ``title`` (English)."""

    document: Optional[str] = None
    locator: Optional[str] = None
    title: Optional[str] = None


@dataclass(kw_only=True, eq=False, repr=False)
class RuleRef(Model):
    """A rule: its ``id``, the rule ``file`` and ``line``."""

    id: str
    file: str
    line: int


@dataclass(kw_only=True, eq=False, repr=False)
class Support(Model):
    """One rule that concludes an entry (CONTRACT §4: each section lists an id once; when
    several rules conclude it, ``support`` lists every one, strongest first)."""

    rule: RuleRef
    source: SourceRef
    strength: Optional[str] = None
    evidence: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    setting: Optional[str] = None


@dataclass(kw_only=True, eq=False, repr=False)
class Recommendation(Model):
    """A regimen, procedure or action recommended for the patient (CONTRACT §4): ``id`` (items
    sorted, joined by ``+``), grading of the strongest ``support``, source, notes, flags,
    conflicts and pending statements."""

    id: str
    items: list[str]
    setting: Optional[str] = None
    strength: Optional[str] = None
    evidence: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    grade: Optional[str] = None
    source: SourceRef
    sources: list[SourceRef] = field(default_factory=list)
    rule: RuleRef
    notes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    localized_notes: list[str] = field(default_factory=list)  # `notes` in the language asked for, same order
    conflicts: list["Conflict"] = field(default_factory=list)  # not-recommended statements that also hold
    pending: list["Pending"] = field(default_factory=list)  # not-recommended statements covering it, undecided
    support: list[Support] = field(default_factory=list)  # every rule that concludes it, strongest first
    flags: list["Flag"] = field(default_factory=list)  # what a clinician should see next to it (CONTRACT §4)


@dataclass(kw_only=True, eq=False, repr=False)
class Flag(Model):
    """CONTRACT §4 ``flags``: ``kind`` already_received (``detail``: the items of the regimen
    the record lists in prior or current therapy, and where) or conflict (``detail``: the id
    and rule of the `do not recommend` statement that also holds) or outside_population
    (``detail``: ``rule``, its ``population`` expression and ``description``: the rule's source
    wrote it for a population the patient is not in)."""

    kind: str
    detail: Any = None


@dataclass(kw_only=True, eq=False, repr=False)
class Conflict(Model):
    """A `do not recommend` statement that holds for the patient and covers an item of a
    recommendation that also holds: both are shown, neither silently wins."""

    id: str
    rule: RuleRef
    reason: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    source: SourceRef


@dataclass(kw_only=True, eq=False, repr=False)
class NotRecommended(Model):
    """A ``do not recommend`` statement that holds for the patient: the regimen, its grading,
    source and reason."""

    id: str
    items: list[str]
    setting: Optional[str] = None
    evidence: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    source: SourceRef
    rule: RuleRef
    reason: Optional[str] = None
    notes: list[str] = field(default_factory=list)
    support: list[Support] = field(default_factory=list)  # every statement that says so, strongest first
    localized_reason: Optional[str] = None  # `reason` in the language asked for
    localized_notes: list[str] = field(default_factory=list)  # `notes` in the language asked for, same order


@dataclass(kw_only=True, eq=False, repr=False)
class Contraindicated(Model):
    """A regimen a contraindication removed: the contraindication's rule and reason, and the
    recommendation it removed."""

    id: str
    items: list[str]
    reason: Optional[str] = None
    rule: RuleRef  # the contraindication that removed it
    source: SourceRef
    recommended_by: Recommendation  # the recommendation it removed
    support: list[Support] = field(default_factory=list)  # every contraindication that removes it
    localized_reason: Optional[str] = None  # `reason` in the language asked for


@dataclass(kw_only=True, eq=False, repr=False)
class Missing(Model):
    """An absent attribute that decides something: the conclusions it decides (``needed_for``,
    concepts included) and exactly the recommendations (``recommendations``; ``decides`` is
    their number)."""

    attribute: str
    needed_for: list[str]  # every conclusion it decides, concepts included
    decides: int = 0  # how many recommendations (certain or possible) hang on it: len(recommendations)
    recommendations: list[str] = field(default_factory=list)  # exactly the recommendation ids it decides


@dataclass(kw_only=True, eq=False, repr=False)
class Pending(Model):
    """A contraindication or `do not recommend` statement that is undecided for the patient
    and would remove (or contradict) a recommendation if it held."""

    kind: str  # contraindication | not_recommended
    rule: RuleRef
    reason: Optional[str] = None
    missing: list[str] = field(default_factory=list)  # the absent attributes that would decide it


@dataclass(kw_only=True, eq=False, repr=False)
class Possible(Model):
    """A recommendation that holds for some completion of the missing data, not for all."""

    id: str
    items: list[str]
    missing: list[str]
    recommendation: Recommendation
    pending: list[Pending] = field(default_factory=list)  # undecided statements that keep it from being certain
    exact: bool = True  # False: the case analysis was over its bound; it may in fact be certain or impossible
    flags: list["Flag"] = field(default_factory=list)  # as on a recommendation (CONTRACT §4 flags)


@dataclass(kw_only=True, eq=False, repr=False)
class PossiblyNotRecommended(NotRecommended):
    """A `do not recommend` statement that holds for some completion of the missing data."""

    missing: list[str] = field(default_factory=list)


@dataclass(kw_only=True, eq=False, repr=False)
class Result(Model):
    """What ``recommend`` answers for one patient (CONTRACT §4): derived concepts,
    recommendations, not recommended, contraindicated, possible, possibly not recommended and
    the missing data."""

    patient: str
    derived: list[str]
    recommendations: list[Recommendation]
    not_recommended: list[NotRecommended]
    contraindicated: list[Contraindicated]
    missing: list[Missing]
    possible: list[Possible] = field(default_factory=list)
    possibly_not_recommended: list[PossiblyNotRecommended] = field(default_factory=list)


@dataclass(kw_only=True, eq=False, repr=False)
class Quantity(Model):
    """A value as the engine read it: ``value`` with its ``unit`` (days for durations, % for
    percentages), as written, and for a derived duration the dates it came from."""

    value: Any = None
    unit: Optional[str] = None
    as_written: Optional[str] = None
    derived_from: Optional[dict[str, Any]] = None


@dataclass(kw_only=True, eq=False, repr=False)
class Flip(Model):
    """For a duration derived from two dates (``tfi = progression_date - first_line_end_date``):
    the condition as shown holds when ``attribute`` (the later date) is ``before`` the date, or
    ``on_or_after`` it."""

    date: str
    attribute: str
    holds: str  # before | on_or_after


@dataclass(kw_only=True, eq=False, repr=False)
class Membership(Model):
    """A record's item that a ``has`` test matched through its class: ``gefitinib is egfr_tki``."""

    item: str
    is_a: str


@dataclass(kw_only=True, eq=False, repr=False)
class Condition(Model):
    """A condition of a rule, with the patient's value. ``op`` is as shown: negated under a ``not``
    (CONTRACT §4). The sentence ``text`` is written from the other fields by
    :mod:`oncologic.report.words` (in English, at the API); reasoning leaves it empty."""

    attribute: Optional[str] = None
    concept: Optional[str] = None
    op: str
    expected: Optional[Quantity] = None
    actual: Optional[Quantity] = None
    holds: Optional[bool] = None
    text: str = ""
    changes_on: Optional[str] = None  # for a duration derived from dates: the date from which the verdict flips
    negated: bool = False  # under a `not`: `op` is the negation of the rule's test, `holds` of its verdict
    attribute_kind: Optional[str] = None  # the attribute's type (duration, enum, item_set, ...): how its values read
    via: list[Membership] = field(default_factory=list)  # a `has` test on items: the record's items matched by class
    class_recorded: list[str] = field(default_factory=list)  # classes the record names in place of the item tested
    records_matched: Optional[int] = None  # `any ... where`: how many of the patient's records match
    records_total: Optional[int] = None  # ... of how many
    needs: Optional[list[str]] = None  # an unknown concept: the missing attributes that would decide it
    flip: Optional[Flip] = None  # a duration derived from dates: when the condition as shown holds
    does_not_apply: Optional[str] = None  # the attribute is not applicable to the patient: its `applies when` fails


@dataclass(kw_only=True, eq=False, repr=False)
class WeakestLink(Model):
    """The lowest evidence level and the lowest expert agreement along a proof."""

    evidence: Optional[str] = None
    evidence_rule: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    consensus_rule: Optional[str] = None


@dataclass(kw_only=True, eq=False, repr=False)
class Change(Model):
    """A change of the record that would make a failed or unknown condition hold."""

    attribute: str
    action: str  # set | add | remove | record | unset
    value: Any = None
    unit: Optional[str] = None
    text: str = ""  # written from the other fields by oncologic.report.words (in English, at the API)
    op: Optional[str] = None  # the test the change makes hold, as a condition shows it ("<", "in", "is known", ...)
    threshold: Optional[Quantity] = None  # a comparison: the value compared with
    proposed: Optional[Quantity] = None  # the value proposed: for a threshold crossing an example past it; the item to add
    known: Optional[bool] = None  # the record had a value for the attribute when the change was planned
    none_of: Optional[list[str]] = None  # recording an empty set: the items tested absent
    attribute_kind: Optional[str] = None
    flip: Optional[Flip] = None  # a threshold on a duration derived from dates: the date it corresponds to


@dataclass(kw_only=True, eq=False, repr=False)
class ProofNode(Model):
    """One step of a proof: the conclusion, its rule and source, grading, the conditions with
    the patient's values, and the proofs of the concepts it used."""

    conclusion: str
    kind: str
    rule: RuleRef
    source: SourceRef
    conditions: list[Condition] = field(default_factory=list)
    children: list["ProofNode"] = field(default_factory=list)
    strength: Optional[str] = None
    evidence: Optional[str] = None
    consensus: Optional[Union[int, float]] = None
    weakest_link: Optional[WeakestLink] = None  # on the root of a proof
    avoids: Optional[list[str]] = None  # the proof of a contraindication: the items it avoids


@dataclass(kw_only=True, eq=False, repr=False)
class Case(Model):
    """One case of the missing data in a verdict reached by case analysis: the values assumed
    (an attribute's value, or for a set ``{"has_any_of": [...]}`` / ``{"has_none_of": [...]}``),
    the verdict in that case, and its proof where the case names values a record can hold."""

    assume: dict[str, Any]
    holds: Optional[bool] = None
    proof: Optional[ProofNode] = None


@dataclass(kw_only=True, eq=False, repr=False)
class Explanation(Model):
    """CONTRACT §4: ``kind`` concept | recommendation | not_recommended | contraindication;
    ``verdict`` holds | fails | undecided, exact over every completion of the missing data;
    ``holds`` True/False when decided, None when undecided. A not-recommended goal that holds
    is a statement that holds (not recommended), never an indication."""

    goal: str
    kind: str = "concept"
    verdict: str = "fails"
    holds: Optional[bool] = None
    proof: Optional[ProofNode] = None
    alternatives: list[ProofNode] = field(default_factory=list)
    removed_by: list["Removal"] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # undecided: the absent attributes that would decide it
    pending: list[Pending] = field(default_factory=list)  # undecided contraindications and `do not recommend` statements
    conflicts: list[ProofNode] = field(default_factory=list)  # `do not recommend` statements that hold for a recommendation
    cases: list[Case] = field(default_factory=list)  # certain by case analysis: the cases, each with its proof
    exact: bool = True  # False: the case analysis was over its bound; the verdict is Kleene's


@dataclass(kw_only=True, eq=False, repr=False)
class Removal(Model):
    """A contraindication that removes the goal: its rule, reason and source."""

    rule: RuleRef
    reason: Optional[str] = None
    source: SourceRef
    proof: Optional[ProofNode] = None


@dataclass(kw_only=True, eq=False, repr=False)
class Attempt(Model):
    """One rule that could conclude the goal, as ``why-not`` tried it: whether it holds, the
    conditions that failed or lack data, its sub-attempts, and a verified change of the record
    that makes it hold, with what the goal would then be (``to_hold_verdict``): the regimen may
    still be removed by a contraindication, or a statement against it may still hold."""

    conclusion: str
    rule: RuleRef
    source: SourceRef
    holds: Optional[bool] = None
    failed: list[Condition] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    children: list[Union["Attempt", ProofNode]] = field(default_factory=list)
    removed_by: list[Removal] = field(default_factory=list)
    to_hold: Optional[list[Change]] = None  # the changes that would make this rule hold; None: no simple change
    pending: list[Pending] = field(default_factory=list)  # the rule holds; these undecided contraindications could remove it
    applies_when: Optional[str] = None  # the rule's `applies when`, as written (None: the rule has none)
    applies: Optional[bool] = None  # its verdict: False = the rule does not apply to the patient (`failed` says why)
    # ``to_hold`` makes the RULE hold; what the GOAL would then be, asked of the engine on the changed record:
    to_hold_verdict: Optional[str] = None  # the goal's verdict with ``to_hold`` applied: holds | fails | undecided
    still_removed_by: list[str] = field(default_factory=list)  # contraindications (ids) that would still remove the regimen
    still_pending: list[Pending] = field(default_factory=list)  # contraindications / statements against that would be undecided
    still_against: list[str] = field(default_factory=list)  # `do not recommend` statements (ids) that would still hold against it


@dataclass(kw_only=True, eq=False, repr=False)
class WhyNot(Model):
    """CONTRACT §4: why a goal does not hold, or is undecided (``holds`` None, ``verdict``
    undecided, ``missing`` the data to record); when it holds, its proof (or cases)."""

    goal: str
    kind: str = "concept"
    verdict: str = "fails"
    holds: Optional[bool] = None
    attempts: list[Attempt] = field(default_factory=list)
    proof: Optional[ProofNode] = None
    missing: list[str] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    exact: bool = True