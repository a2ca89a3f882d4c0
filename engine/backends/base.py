"""The backend protocol: what evaluation, explanation, what-if and batches ask of an engine.

A backend runs one compiled :class:`~oncologic.compile.datalog.Program` (made once per
knowledge base, then shared by every thread) on patients' facts. It answers three questions,
and :mod:`oncologic.reason.evaluate` asks nothing else:

- :meth:`Backend.ask` — the rows of one *view* for one patient, and optionally the rows of a
  second view chosen from the first answer, over the same facts (``recommend`` asks ``top``,
  then, only if some conclusion stays unknown, a missing view; explanations ask a detail view);
- :meth:`Backend.answer` — the rows of the complete ``answer`` view for a batch of patients,
  in one evaluation (cohorts, and the tests' reference evaluation);
- :meth:`Backend.holds` — whether one node is certainly true for one patient (its true rail
  only: what-if checks a changed record with it).

Shapes
    *Facts* of one patient are :func:`oncologic.compile.facts.patient_facts` tuples,
    ``(relation, arg, ...)`` without the patient column: the backend puts in its own patient
    key, and keeps keys apart between patients, calls and threads. Values are in canonical
    units (durations in days, lengths in mm, percentages in %; dates as ISO text).

    A *view* is ``(name, clauses)``: an output predicate ``name(P, Kind, A, B)`` and the
    :class:`~oncologic.compile.datalog.Clause` s that define it over the program's rails
    (made by :mod:`oncologic.compile.plan`). A name that is one of ``program.views`` (``top``,
    ``answer``) means the program's own view; any other name is a caller's view, which the
    backend may keep for reuse and must tell apart by name only (plan names them by a digest
    of their content: one name, one set of clauses).

    A *row* is the tuple ``(kind, a, b)`` of one answer of the view for the patient, the
    patient column left out (:mod:`oncologic.compile.plan` lists them):
    ``("truth", node: int, value: bool)``, ``("removed", regimen node: int, contraindication
    rule id: str)``, ``("match", any-node: int, record index: int)``, ``("closed", group id:
    int, gate node: int)``, ``("missing", node: int, attribute: str)``. Rows come in no
    particular order and without duplicates.

Errors
    A backend raises :class:`ValueError` when the program or a caller's view uses a predicate
    name it cannot hold. Patient facts reach it validated, so anything else it raises is an
    internal error (a bug), never an :class:`~oncologic.errors.OncologicError`.

Threads
    One backend object serves every thread of a process at once (``KnowledgeBase`` is shared),
    and two backends in one process never see each other's facts.

A new backend implements this protocol and registers a factory with
:func:`oncologic.backends.register`; nothing in :mod:`oncologic.reason` changes.
"""
from __future__ import annotations

from typing import Callable, ClassVar, Protocol, Sequence, runtime_checkable

from ..compile.datalog import Clause, Program
from ..compile.facts import Fact

Facts = Sequence[Fact]  # one patient's facts, as patient_facts makes them
View = tuple[str, Sequence[Clause]]  # (output predicate, its clauses)
Row = tuple  # (kind, a, b)
FollowUp = Callable[[list[Row]], "View | None"]  # first answer -> a second view to ask, or None


@runtime_checkable
class Backend(Protocol):
    """An engine for one compiled program. Construct it with ``factory(program)``."""

    name: ClassVar[str]  # the registry name, e.g. "pydatalog"
    program: Program

    def ask(self, facts: Facts, view: View, then: FollowUp | None = None) -> tuple[list[Row], list[Row]]:
        """The rows of ``view`` for the patient of ``facts``; then, if ``then`` is given, it is
        called with those rows and may return a second view, asked over the same facts.

        Returns ``(rows, then_rows)``; ``then_rows`` is ``[]`` when no second view was asked.
        ``then`` runs while the patient's facts are loaded; it must not call the backend.
        """
        ...

    def answer(self, batch: Sequence[Facts]) -> list[list[Row]]:
        """The rows of the program's ``answer`` view (every node's verdict, removals and
        matches) for each patient of ``batch``: one list per patient, in the batch's order.
        A batch may hold any number of patients, one included."""
        ...

    def holds(self, facts: Facts, node: int) -> bool:
        """Whether the canonical node ``node`` is certainly true for the patient: its true
        rail (:func:`oncologic.compile.plan.rail`) has a row. False means false *or* unknown."""
        ...
