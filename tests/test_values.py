"""The shared equality, hashing and repr of the package's dataclasses (oncologic.values) mean
what ``@dataclass`` would generate: the classes declare ``eq=False, repr=False`` only to keep a
cold start short (bench/RESULTS.md, issue 9)."""
from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

from oncologic.compile import datalog as d
from oncologic.compile.plan import Plan
from oncologic.lang import nodes as n
from oncologic.reason import results as r
from oncologic.values import Record, Value

from support import ROOT


def test_frozen_value_equality_hash_and_repr_as_dataclass_makes_them():
    a, b = n.Quantity(90, "d", "90d"), n.Quantity(90, "d", "90d")
    assert a == b and hash(a) == hash(b) and a is not b
    assert a != n.Quantity(90, "d", "3mo") and a != n.Quantity(91, "d", "90d")
    assert n.Quantity(1) != n.Symbol("x") and (a == (90, "d", "90d")) is False  # another class is never equal
    assert len({a, b, n.Quantity(90, "d")}) == 2
    assert repr(a) == "Quantity(value=90, unit='d', written='90d')"
    assert repr(d.Var("P")) == "Var(name='P')" and str(d.Var("P")) == "P"  # a class's own __str__ stays
    assert d.Var("P") == d.Var("P") and hash(d.Var("P")) == hash(d.Var("P"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.value = 91


def test_record_is_unhashable_and_skips_fields_not_compared():
    one = Plan(conclusions=(1,), missing_roots=())
    other = Plan(conclusions=(1,), missing_roots=())
    other._cache["x"] = 1  # compare=False, repr=False
    assert one == other and "_cache" not in repr(other)
    assert repr(one) == "Plan(conclusions=(1,), missing_roots=(), groups={})"
    with pytest.raises(TypeError):
        hash(one)
    ref = r.RuleRef(id="x", file="f.rules", line=3)
    assert ref == r.RuleRef(id="x", file="f.rules", line=3) and ref != r.RuleRef(id="x", file="f.rules", line=4)
    assert repr(ref).startswith("RuleRef(id='x', file='f.rules', line=3")


def _package_dataclasses():
    for path in sorted((ROOT / "engine").rglob("*.py")):
        if path.name == "__main__.py":
            continue  # importing it runs the command line
        parts = path.relative_to(ROOT / "engine").with_suffix("").parts
        name = ".".join(("oncologic",) + tuple(p for p in parts if p != "__init__"))
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and dataclasses.is_dataclass(cls):
                yield cls


def test_every_dataclass_takes_its_methods_from_the_shared_base():
    """Equality from the base, never a generated one next to it: a class declared with the
    plain ``@dataclass`` would silently get dataclass's methods back (and the cost)."""
    seen = 0
    for cls in _package_dataclasses():
        if cls.__module__ == "oncologic.errors":
            continue  # a leaf module imports nothing of the package; Diagnostic keeps dataclass's methods
        seen += 1
        frozen = cls.__dataclass_params__.frozen
        assert issubclass(cls, Value if frozen else Record), cls
        assert cls.__dataclass_params__.eq is False and cls.__dataclass_params__.repr is False, cls
    assert seen > 50
