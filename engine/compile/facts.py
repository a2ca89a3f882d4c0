"""The fact schema: what a patient record becomes for a backend.

The compiled program reads seven extensional relations (:data:`EDB`, documented in
:mod:`oncologic.compile.compiler`)::

    patient(P)  val(P, Attribute, Value)  known(P, Attribute)  member(P, Attribute, X)
    has(P, Attribute, C)  maybe(P, Attribute, X)  field(P, Attribute, I, Field, Value)

:func:`patient_facts` turns one validated record into those relations as plain tuples,
``(relation, arg, ...)``, **without the patient column** ``P``: which patient a fact is about
is the backend's business (it owns the patient keys, :mod:`oncologic.backends.base`), so the
tuple of a relation of arity *k* has length *k* — the name and *k* − 1 arguments, e.g.
``("patient",)``, ``("val", "tfi", 45)``, ``("field", "lines", 0, "drug", "etoposide")``.

Values are what :mod:`oncologic.records.patient` normalised: numbers in canonical units
(durations in days, lengths in mm, percentages in %), dates as ISO text, enum values and
items as text, booleans as ``bool``, record indexes as ``int``. Nothing here depends on a
backend.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..model.kb import CheckedKB
from .compiler import EDB

Fact = tuple  # (relation, arg, ...): a relation of EDB without its patient column


def patient_facts(values: Mapping[str, Any], kb: CheckedKB) -> list[Fact]:
    """The facts of one record: ``values`` are a validated Patient's (attribute -> normalised
    value), ``kb`` the vocabulary they were validated against. Sets are listed in sorted
    order, so the same record always gives the same facts."""
    out: list[Fact] = [("patient",)]
    for name, value in values.items():
        kind = kb.attributes[name].type.kind
        out.append(("known", name))
        if kind in ("set", "item_set"):
            out.extend(("member", name, x) for x in sorted(value))
            # each item and every class it belongs to (compiler.py: has/3)
            certain = {c for x in value for c in [x, *kb.ancestors(x)]}
            out.extend(("has", name, c) for c in sorted(certain))
            if kind == "item_set":  # a class recorded: each of its members may be the one given
                out.extend(("maybe", name, m) for m in sorted(recorded_class_members(value, kb) - certain))
        elif kind == "record_list":
            for index, record in enumerate(value):
                out.append(("member", name, index))
                out.extend(("field", name, index, f, v) for f, v in record.items())
        else:
            out.append(("val", name, value))
    return out


def recorded_class_members(value, kb: CheckedKB) -> set[str]:
    """The items a set of items may hold because it names a class of them: the members of each
    recorded item that has members of its own (``egfr_tki`` → gefitinib, osimertinib, the
    generations, ...), the recorded items themselves excluded."""
    out: set[str] = set()
    for x in value:
        out |= kb.members(x) - {x}
    return out


__all__ = ["EDB", "Fact", "patient_facts", "recorded_class_members"]
