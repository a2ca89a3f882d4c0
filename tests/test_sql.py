"""The compiled Datalog program as SQL (oncologic.compile.sql): the text sqlglot generates,
and on DuckDB exactly the answers of the reference engine (pyDatalog)."""
from __future__ import annotations

import pytest

sqlglot = pytest.importorskip("sqlglot", reason="sqlglot is not installed (pip install oncologic[duckdb])")
duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install oncologic[duckdb])")

from oncologic.backends.pydatalog.engine import PyDatalogEngine  # noqa: E402
from oncologic.compile.compiler import EDB  # noqa: E402
from oncologic.compile.datalog import Atom, Clause, Comparison, Negation, Program, Var  # noqa: E402
from oncologic.compile.facts import patient_facts  # noqa: E402
from oncologic.compile.sql import decode, fact_rows, to_sql  # noqa: E402

from support import example_files, shipped_kb  # noqa: E402

P, V, I, X = Var("P"), Var("V"), Var("I"), Var("X")


def tiny() -> Program:
    """t1: a numeric threshold; t2: a negation; answer: constants, a variable of two types."""
    prog = Program(edb=dict(EDB), outputs={"answer": 4})
    prog.add(Atom("t1", (P,)), [Atom("val", (P, "age", V)), Comparison(V, ">=", 18)])
    prog.add(Atom("t2", (P,)), [Atom("known", (P, "mutations")), Negation(Atom("has", (P, "mutations", "egfr")))])
    prog.views["answer"] = [
        Clause(Atom("answer", (P, "truth", 1, True)), (Atom("t1", (P,)),)),
        Clause(Atom("answer", (P, "match", 2, I)),
               (Atom("t2", (P,)), Atom("member", (P, "lines", I)), Comparison(I, "!=", 0))),
    ]
    return prog


TINY_DUCKDB = [
    "CREATE TABLE patient (pid BIGINT)",
    "CREATE TABLE val (pid BIGINT, c1 TEXT, c2_text TEXT, c2_int BIGINT, c2_float DOUBLE, c2_bool BOOLEAN)",
    "CREATE TABLE known (pid BIGINT, c1 TEXT)",
    "CREATE TABLE member (pid BIGINT, c1 TEXT, c2_text TEXT, c2_int BIGINT)",
    "CREATE TABLE has (pid BIGINT, c1 TEXT, c2 TEXT)",
    "CREATE TABLE maybe (pid BIGINT, c1 TEXT, c2 TEXT)",
    "CREATE TABLE field (pid BIGINT, c1 TEXT, c2 BIGINT, c3 TEXT, "
    "c4_text TEXT, c4_int BIGINT, c4_float DOUBLE, c4_bool BOOLEAN)",
    "CREATE TABLE t1 AS SELECT DISTINCT a0.pid AS pid FROM val AS a0 "
    "WHERE a0.c1 = 'age' AND (a0.c2_int >= 18 OR a0.c2_float >= 18)",
    "CREATE TABLE t2 AS SELECT DISTINCT a0.pid AS pid FROM known AS a0 WHERE a0.c1 = 'mutations' "
    "AND NOT EXISTS(SELECT 1 FROM has AS n1 WHERE a0.pid = n1.pid AND n1.c1 = 'mutations' AND n1.c2 = 'egfr')",
    "CREATE TABLE answer AS "
    "SELECT a0.pid AS pid, 'truth' AS c1, 1 AS c2, CAST(NULL AS TEXT) AS c3_text, CAST(NULL AS BIGINT) AS c3_int, "
    "TRUE AS c3_bool FROM t1 AS a0 "
    "UNION SELECT a0.pid AS pid, 'match' AS c1, 2 AS c2, a1.c2_text AS c3_text, a1.c2_int AS c3_int, "
    "CAST(NULL AS BOOLEAN) AS c3_bool FROM t2 AS a0 INNER JOIN member AS a1 ON a0.pid = a1.pid "
    "WHERE a1.c1 = 'lines' AND (a1.c2_int IS NULL OR a1.c2_int <> 0)",
]


def duck_rows(program: Program, batch: list, views=("answer",)) -> dict[str, list[set]]:
    """Each view's rows for each patient of ``batch``, evaluated by DuckDB in one go."""
    sql = to_sql(program, "duckdb", outputs=list(views))
    con = duckdb.connect()
    try:
        tables = len(sql.tables)
        for stmt in sql.statements[:tables]:
            con.execute(stmt)
        for name, rows in fact_rows(enumerate(batch)).items():
            if rows:
                con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        for stmt in sql.statements[tables:]:
            con.execute(stmt)
        out: dict[str, list[set]] = {}
        for view in views:
            out[view] = [set() for _ in batch]
            for row in con.execute(f"SELECT * FROM {view}").fetchall():
                key, *args = decode(sql.relations[view], row)
                out[view][key].add(tuple(args))
        return out
    finally:
        con.close()


def duck_answer(program: Program, batch: list) -> list[set]:
    return duck_rows(program, batch)["answer"]


def test_tiny_program_sql_text():
    assert to_sql(tiny(), "duckdb").statements == TINY_DUCKDB
    spark = to_sql(tiny(), "spark").statements
    assert spark[1] == "CREATE TABLE val (pid BIGINT, c1 STRING, c2_text STRING, c2_int BIGINT, c2_float DOUBLE, c2_bool BOOLEAN)"
    assert [s.split(" AS ")[0] for s in spark[7:]] == ["CREATE TABLE t1", "CREATE TABLE t2", "CREATE TABLE answer"]
    assert to_sql(tiny(), "duckdb", materialize=False).statements[-1].startswith("CREATE VIEW answer AS SELECT")


def test_tiny_program_answers_as_pydatalog():
    """Values of several types in one column: a threshold on numbers only, a text item and a
    record index in one variable, `!=` true for a value of another type."""
    batch = [
        [("patient",), ("known", "age"), ("val", "age", 18), ("known", "mutations"), ("member", "lines", 0),
         ("member", "lines", 1), ("member", "lines", "x")],
        [("patient",), ("known", "age"), ("val", "age", 17.5), ("known", "mutations"), ("has", "mutations", "egfr"),
         ("member", "lines", 1)],
        [("patient",), ("val", "age", True)],
        [("patient",)],
    ]
    expected = [
        {("truth", 1, True), ("match", 2, 1), ("match", 2, "x")},
        set(), set(), set(),
    ]
    assert [set(rows) for rows in PyDatalogEngine(tiny()).answer(batch)] == expected
    got = duck_answer(tiny(), batch)
    assert got == expected
    assert {type(b) for _, _, b in got[0]} == {bool, int, str}


def test_shipped_kb_answers_equal_pydatalog_for_every_bundled_patient():
    kb = shipped_kb("pydatalog")
    files = example_files()
    batch = [patient_facts(kb.patient(path).values, kb.compiled.checked) for path in files]
    reference = kb.backend.answer(batch)
    duck = duck_rows(kb.compiled.program, batch, ("answer", "top"))
    got = duck["answer"]
    assert len(batch) == len(got) == 62
    for path, want, rows in zip(files, reference, got):
        assert rows == set(want), path.name
    assert sum(len(rows) for rows in got) == sum(len(set(rows)) for rows in reference) > 10_000
    # `top`, what `recommend` asks first, too
    top = [set(kb.backend.ask(facts, ("top", None))[0]) for facts in batch]
    assert duck["top"] == top and sum(map(len, top)) > 1_000


def test_shipped_kb_generates_for_spark_too():
    program = shipped_kb("pydatalog").compiled.program
    duck, spark = to_sql(program, "duckdb"), to_sql(program, "spark")
    assert len(spark.statements) == len(duck.statements) > 500
    assert spark.order == duck.order and {"answer", "top"} <= set(spark.order)
    assert [s.split(" AS ")[0] for s in spark.statements[7:]] == [f"CREATE TABLE {p}" for p in spark.order]
    assert not any("VARCHAR" in s or " TEXT" in s for s in spark.statements)


def test_recursion_is_refused_naming_the_predicates():
    prog = Program(edb=dict(EDB), outputs={"answer": 4})
    prog.add(Atom("reach", (P, X)), [Atom("has", (P, "a", X))])
    prog.add(Atom("reach", (P, X)), [Atom("reach", (P, V)), Atom("field", (P, "edge", I, V, X))])
    prog.add(Atom("t1", (P,)), [Atom("t2", (P,))])
    prog.add(Atom("t2", (P,)), [Atom("patient", (P,)), Negation(Atom("t3", (P,))), Atom("t1", (P,))])
    prog.views["answer"] = [Clause(Atom("answer", (P, "truth", 1, True)), (Atom("t1", (P,)), Atom("reach", (P, "b"))))]
    with pytest.raises(ValueError) as err:
        to_sql(prog)
    assert str(err.value) == "the program is recursive, which its SQL translation cannot express: reach, t1, t2"


def test_what_sql_cannot_say_is_refused():
    prog = Program(edb=dict(EDB), outputs={"answer": 4})
    prog.views["answer"] = [Clause(Atom("answer", (P, "truth", 1, True)),
                                   (Atom("patient", (P,)), Comparison(V, "<", 3), Atom("val", (P, "x", V))))]
    with pytest.raises(ValueError, match=r"V is compared in 'V < 3' before a positive atom binds it"):
        to_sql(prog)


def test_a_callers_view_is_translated_alone_over_the_programs_relations():
    from oncologic.compile.sql import clauses_sql
    program = to_sql(tiny(), "duckdb", outputs=["t1", "t2", "answer"])
    view = [Clause(Atom("mine_h", (P, V)), (Atom("t1", (P,)), Atom("val", (P, "age", V)))),
            Clause(Atom("mine", (P, "truth", 5, V)), (Atom("mine_h", (P, V)), Negation(Atom("t2", (P,)))))]
    sql = clauses_sql(view, program.relations)
    assert sql.order == ["mine_h", "mine"] and sql.reads == {"t1", "t2", "val"}
    assert sql.statements == [
        "CREATE TABLE mine_h AS SELECT DISTINCT a0.pid AS pid, a1.c2_text AS c1_text, a1.c2_int AS c1_int, "
        "a1.c2_float AS c1_float, a1.c2_bool AS c1_bool FROM t1 AS a0 INNER JOIN val AS a1 ON a0.pid = a1.pid "
        "WHERE a1.c1 = 'age'",
        "CREATE TABLE mine AS SELECT DISTINCT a0.pid AS pid, 'truth' AS c1, 5 AS c2, a0.c1_text AS c3_text, "
        "a0.c1_int AS c3_int, a0.c1_float AS c3_float, a0.c1_bool AS c3_bool FROM mine_h AS a0 "
        "WHERE NOT EXISTS(SELECT 1 FROM t2 AS n1 WHERE a0.pid = n1.pid)",
    ]
    # a helper read but defined by no clause (a missing view's node with no walked child) is
    # empty, and still binds the variables of the clause that reads it
    empty = clauses_sql([Clause(Atom("m_n1", (P, V)), (Atom("m_k1", (P, V)), Negation(Atom("t1", (P,)))))],
                        program.relations)
    assert empty.statements[0] == ("CREATE TABLE m_k1 AS SELECT CAST(NULL AS BIGINT) AS pid, "
                                   "CAST(NULL AS TEXT) AS c1 WHERE FALSE")
    assert empty.order == ["m_n1"] and empty.relations["m_n1"].kinds == [("key",), ("text",)]
    with pytest.raises(ValueError, match="the clauses define 't1', a relation of the program"):
        clauses_sql([Clause(Atom("t1", (P,)), (Atom("patient", (P,)),))], program.relations)
    with pytest.raises(ValueError, match="no relation t1/2"):
        clauses_sql([Clause(Atom("x", (P,)), (Atom("t1", (P, V)),))], program.relations)
