"""Helpers shared by the tests: build patients, read recommendation sets."""
from __future__ import annotations

import functools
from pathlib import Path

import oncologic
import oncologic.backends

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "patients"


def shipped_kb(backend: str | None = None) -> oncologic.KnowledgeBase:
    """The shipped knowledge base on ``backend`` (None: the default), loaded once per backend."""
    return _shipped(backend or oncologic.backends.DEFAULT)


@functools.lru_cache(maxsize=None)
def _shipped(backend: str) -> oncologic.KnowledgeBase:
    return oncologic.load(backend=backend)


def lung(**attrs) -> dict:
    """A lung-cancer record with an id; attributes as given."""
    return {"id": attrs.pop("id", "t-lung"), "cancer": "lung", **attrs}


def hcc(**attrs) -> dict:
    return {"id": attrs.pop("id", "t-hcc"), "cancer": "hcc", **attrs}


def graded(result) -> set[tuple]:
    """The recommendations as a set of (id, strength, evidence, consensus)."""
    return {(r.id, r.strength, r.evidence, r.consensus) for r in result.recommendations}


def ids(result) -> set[str]:
    return {r.id for r in result.recommendations}


def example_files() -> list[Path]:
    """Every bundled patient record (the deliberately invalid ones live in examples/invalid)."""
    return sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".json", ".yaml", ".yml", ".jsonl"))


def example_patients() -> list:
    """Every bundled patient (examples/patients), parsed by the default knowledge base."""
    kb = shipped_kb()
    return [p for path in example_files() for p in kb.patients(path)]


def interactive(kb) -> bool:
    """Whether one question about one patient is cheap on ``kb``'s backend (pyDatalog), so
    the tests ask patient by patient; otherwise (DuckDB: ``backend.interactive`` False, a fixed
    cost per call) they compare batches, and a few patients alone (FEW)."""
    return getattr(kb.backend, "interactive", True)


# the bundled patients a backend that is not interactive is also asked about alone
FEW = ("pt-sclc-2l", "pt-hcc-iiia-pvtt", "pt-nsclc-t790m")
