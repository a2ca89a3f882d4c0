"""The DuckDB backend (oncologic.backends.sql): the protocol's rows with pyDatalog's Python
types, on small programs and the shipped one; what it keeps between calls (the program's SQL
once, bounded caches of per-view and per-node statements); its tuning for small batches; and
the message when its packages are missing. The faithfulness, oracle and isolation tests run
on it too (the ``backend_kb`` fixture)."""
from __future__ import annotations

import sys

import pytest

import oncologic
import oncologic.backends
from oncologic.compile.compiler import EDB
from oncologic.compile.datalog import Atom, Clause, Comparison, Program, Var
from oncologic.compile.facts import patient_facts
from oncologic.compile.plan import rail
from oncologic.errors import OncologicError

from support import example_patients, lung, shipped_kb

pytest.importorskip("duckdb", reason="duckdb is not installed (pip install oncologic[duckdb])")
pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install oncologic[duckdb])")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install oncologic[duckdb])")

from oncologic.backends.pydatalog.engine import PyDatalogEngine  # noqa: E402
from oncologic.backends.sql.duckdb import DuckDBEngine  # noqa: E402
from test_sql import tiny  # noqa: E402

P, V, K = Var("P"), Var("V"), Var("K")


def values_program() -> Program:
    """answer(P, "truth", 1, V) for every value of ``x``; ("match", 2, V) for those == 1."""
    prog = Program(edb=dict(EDB), outputs={"answer": 4})
    prog.views["answer"] = [
        Clause(Atom("answer", (P, "truth", 1, V)), (Atom("val", (P, "x", V)),)),
        Clause(Atom("answer", (P, "match", 2, V)), (Atom("val", (P, "x", V)), Comparison(V, "==", 1))),
    ]
    return prog


def typed(rows) -> set:
    """Rows with each value's type: True and 1, 1 and 1.0 stay apart."""
    return {tuple((type(v).__name__, v) for v in row) for row in rows}


def test_booleans_ints_floats_and_text_keep_their_types():
    """Each value comes back with its own type; 1 == 1.0 as in pyDatalog. One known
    difference: pyDatalog also finds True == 1 (Python's equality; its interned constants
    even hand back whichever of True, 1, 1.0 it saw first), SQL keeps booleans apart from
    numbers (oncologic.compile.sql). The checker never compares a boolean with a number, so
    no compiled knowledge base sees the difference."""
    batch = [[("val", "x", 1)], [("val", "x", 1.0)], [("val", "x", "1")],
             [("val", "x", 0)], [("val", "x", False)], [("val", "x", 2.5)], [("val", "x", True)]]
    duck, ref = DuckDBEngine(values_program()).answer(batch), PyDatalogEngine(values_program()).answer(batch)
    assert [typed(rows) for rows in duck[:-1]] == [typed(rows) for rows in ref[:-1]]
    assert [set(rows) for rows in duck] == [
        {("truth", 1, 1), ("match", 2, 1)}, {("truth", 1, 1.0), ("match", 2, 1.0)}, {("truth", 1, "1")},
        {("truth", 1, 0)}, {("truth", 1, False)}, {("truth", 1, 2.5)}, {("truth", 1, True)}]
    assert set(ref[-1]) == {("truth", 1, True), ("match", 2, True)}  # the difference above
    assert [type(rows[0][2]) for rows in duck] == [int, float, str, int, bool, float, bool]


def test_a_patient_with_no_facts_an_empty_batch_and_a_batch_of_one():
    engine, ref = DuckDBEngine(tiny()), PyDatalogEngine(tiny())
    assert engine.answer([]) == []
    assert engine.answer([[]]) == [[]] == ref.answer([[]])
    one = [("patient",), ("known", "age"), ("val", "age", 18), ("known", "mutations"), ("member", "lines", 1)]
    assert [set(r) for r in engine.answer([one])] == [set(r) for r in ref.answer([one])] == [
        {("truth", 1, True), ("match", 2, 1)}]
    assert engine.ask([], ("answer", None)) == ([], [])
    assert engine.holds(one, 1) is True and engine.holds([], 1) is False
    assert engine.holds(one, 99) is False  # no such rail in the program: nothing holds


def test_small_batches_without_the_optimizer_answer_as_large_ones_with_it(monkeypatch):
    """SMALL batches run with one thread and no optimizer: the same rows either way."""
    kb = shipped_kb("duckdb")
    batch = [patient_facts(p.values, kb.compiled.checked) for p in example_patients()]
    engine = DuckDBEngine(kb.compiled.program)
    monkeypatch.setattr(engine, "SMALL", 0)
    tuned = DuckDBEngine(kb.compiled.program)
    monkeypatch.setattr(tuned, "SMALL", len(batch))
    settings = []
    opened = tuned._open
    monkeypatch.setattr(tuned, "_open", lambda size: settings.append(size) or opened(size))
    plain, small = engine.answer(batch), tuned.answer(batch)
    assert [set(rows) for rows in plain] == [set(rows) for rows in small]
    assert sum(map(len, plain)) > 10_000 and settings == [len(batch)]
    con = opened(1)
    try:
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    finally:
        con.close()


def test_no_progress_bar_reaches_stdout_and_threads_are_as_asked():
    """DuckDB draws a progress bar on stdout for any statement over 2 s, even into a pipe: a
    loaded machine put it inside `oncologic cohort`'s JSON Lines. Every session has it off;
    ``threads`` (a cohort's worker processes pass 1) holds for large batches too."""
    engine = DuckDBEngine(tiny(), threads=1)
    for size in (1, engine.SMALL + 1):
        con = engine._open(size)
        try:
            assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0] is False
            assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        finally:
            con.close()


def test_the_program_sql_is_made_once_and_questions_run_only_what_they_need(monkeypatch):
    import oncologic.backends.sql.engine as engine_module
    made = []
    real = engine_module.to_sql
    monkeypatch.setattr(engine_module, "to_sql", lambda *a, **k: made.append(1) or real(*a, **k))
    kb = oncologic.KnowledgeBase(shipped_kb("duckdb").compiled, backend="duckdb")  # a fresh engine
    record = next(p for p in example_patients() if p.id == "pt-sclc-2l")
    kb.evaluate(record)
    ev = kb.run(record)
    goal = next(n.id for n in kb.compiled.nodes if n.kind == "concept" and n.canonical == n.id and ev.value(n.id))
    assert kb.backend.holds(patient_facts(record.values, kb.compiled.checked), goal) is True
    assert made == [1]
    answer_steps = len(kb.backend._plan(("answer", None))[0])
    rail_steps = len(kb.backend._rail_plan(goal)[0])
    assert answer_steps > 400 and 0 < rail_steps < answer_steps / 5
    assert rail(goal) in dict(kb.backend._rail_plan(goal)[0])


def test_caller_views_and_rails_are_kept_up_to_a_bound():
    kb = oncologic.KnowledgeBase(shipped_kb("duckdb").compiled, backend="duckdb")
    kb.backend.MAX_VIEWS, kb.backend.MAX_HOLDS = 2, 2
    record = lung(id="v", histology="sclc", tfi="45d", line=2)
    goals = ["topotecan", "refractory_sclc", "hcc"]
    first = [kb.explain(record, g).to_dict() for g in goals]
    assert len(kb.backend._views) == 2
    assert [kb.explain(record, g).to_dict() for g in reversed(goals)] == first[::-1]
    assert first == [shipped_kb("pydatalog").explain(record, g).to_dict() for g in goals]
    facts = patient_facts(kb.patient(record).values, kb.compiled.checked)
    nodes = [n.id for n in kb.compiled.nodes if n.kind == "concept" and n.canonical == n.id][:3]
    assert [kb.backend.holds(facts, n) for n in nodes] == [shipped_kb("pydatalog").backend.holds(facts, n) for n in nodes]
    assert list(kb.backend._holds) == nodes[1:]


def test_without_its_packages_the_backend_says_what_to_install(monkeypatch):
    for module in ("duckdb", "pyarrow"):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, module, None)  # `import module` now raises ImportError
            with pytest.raises(OncologicError, match=r"pip install oncologic\[duckdb\]") as err:
                oncologic.KnowledgeBase(shipped_kb().compiled, backend="duckdb")
            assert module in str(err.value)
    assert "duckdb" in oncologic.backends.available()


def test_a_view_the_clauses_do_not_define_is_refused():
    engine = DuckDBEngine(tiny())
    with pytest.raises(ValueError, match="no clause defining it"):
        engine.ask([("patient",)], ("other", [Clause(Atom("mine", (P, "truth", 1, True)), (Atom("t1", (P,)),))]))
    with pytest.raises(ValueError, match="unsafe predicate name"):
        engine.ask([("patient",)], ("Bad", [Clause(Atom("Bad", (P, "truth", 1, True)), (Atom("t1", (P,)),))]))
