"""How the SQL backends hand a cohort chunk's rows back (oncologic.backends.sql.engine): each
distinct row decoded once and shared, patients in key order, and DuckDB's ``answer`` dropping
each table after its last reader — the same rows as decoding every row on its own."""
from __future__ import annotations

import random

import pytest

pa = pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install oncologic[duckdb])")
pytest.importorskip("duckdb", reason="duckdb is not installed (pip install oncologic[duckdb])")
pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install oncologic[duckdb])")

from oncologic.backends.sql.duckdb import DuckDBEngine, arrow_table  # noqa: E402
from oncologic.backends.sql.engine import rows_by_patient  # noqa: E402
from oncologic.compile.sql import Relation, decode, dependencies  # noqa: E402

from test_sql import tiny  # noqa: E402

# (patient key, kind, node, value): the value one of four kinds, as in a real ``answer``
REL = Relation("answer", [("key",), ("text",), ("int",), ("text", "int", "float", "bool")])


def _row(rng: random.Random, pid: int) -> list:
    kind = rng.choice(["text", "int", "float", "bool", None])
    value = {"text": rng.choice(["a", "b", ""]), "int": rng.choice([0, 1, 7, 300]),
             "float": rng.choice([0.5, 1.0]), "bool": rng.choice([True, False]), None: None}[kind]
    return [pid, rng.choice(["truth", "match"]), rng.choice([1, 2, 1062, None])] + [
        value if kind == k else None for k in ("text", "int", "float", "bool")]


def _expected(rows: list[list], size: int) -> list[list[tuple]]:
    out: list[list[tuple]] = [[] for _ in range(size)]
    for row in rows:  # decode() row by row, in input order within a patient
        key, *args = decode(REL, row)
        out[key].append(tuple(args))
    return out


@pytest.mark.parametrize("size", [5, 70_000])  # 70 000 patients: the 64-bit sort of keys
def test_rows_come_back_per_patient_as_decode_gives_them_each_distinct_row_one_tuple(size):
    rng = random.Random(7)
    rows = [_row(rng, rng.randrange(size)) for _ in range(400)]
    table = arrow_table(REL, [list(col) for col in zip(*rows)])
    got = rows_by_patient(REL, table, size)
    want = _expected(rows, size)
    assert got == want
    assert [[type(v) for r in p for v in r] for p in got] == [[type(v) for r in p for v in r] for p in want]
    flat = [r for p in got for r in p]
    assert len({id(r) for r in flat}) == len({tuple((type(v), v) for v in r) for r in flat}) < len(flat)
    assert rows_by_patient(REL, table.slice(0, 0), 3) == [[], [], []]


def test_many_distinct_rows_take_the_sorting_path_with_the_same_result():
    """More combinations than 4 × rows: numbered by sorting instead of a table by code."""
    rel = Relation("wide", [("key",)] + [("int",)] * 6)
    rng = random.Random(3)
    rows = [[rng.randrange(4)] + [rng.randrange(10 ** 9) for _ in range(6)] for _ in range(300)]
    rows += rows[:50]  # some rows twice
    got = rows_by_patient(rel, arrow_table(rel, [list(c) for c in zip(*rows)]), 4)
    want: list[list[tuple]] = [[] for _ in range(4)]
    for key, *args in rows:
        want[key].append(tuple(args))
    assert got == want


def test_duckdb_answer_drops_every_table_after_its_last_reader_with_the_same_rows(monkeypatch):
    engine = DuckDBEngine(tiny())
    steps = engine._answer_plan()[0]
    reads = dependencies(engine.program)
    dropped = [s.split()[-1] for name, s in steps if name is None]
    assert sorted(dropped) == sorted(set(engine.sql.relations) - {"answer"})
    for i, (name, statement) in enumerate(steps):
        if name is None:  # nothing after a DROP reads what it dropped
            assert statement.startswith("DROP TABLE ")
            assert not any(statement.split()[-1] in reads.get(later, ()) for later, _ in steps[i + 1:] if later)
    batch = [[("patient",), ("val", "age", 20), ("known", "mutations"), ("member", "lines", 2)],
             [("patient",), ("val", "age", 10)], [("val", "age", 18), ("member", "lines", 0)]]
    kept = DuckDBEngine(tiny())
    monkeypatch.setattr(kept, "drop_dead", False)
    assert not any(name is None for name, _ in kept._answer_plan()[0])
    assert [set(r) for r in engine.answer(batch)] == [set(r) for r in kept.answer(batch)] == [
        {("truth", 1, True), ("match", 2, 2)}, set(), {("truth", 1, True)}]
