"""Two knowledge bases in one process, and one knowledge base from many threads, never mix
patients: answers are the same as when run alone, one after another. On every registered
backend (the ``backend_kb`` fixture, and ``backend`` for knowledge bases built here); on a
backend that is not interactive (DuckDB) with fewer patients asked one at a time."""
from concurrent.futures import ThreadPoolExecutor

import oncologic
from minikb import write_kb
from support import interactive, lung, shipped_kb


def _summary(res):
    return (res.patient, tuple(res.derived), tuple(sorted(r.id for r in res.recommendations)),
            tuple(sorted(r.id for r in res.possible)), tuple((m.attribute, tuple(m.needed_for)) for m in res.missing))


def _cohort(n=40):
    records = []
    for i in range(n):
        records.append(lung(id=f"p{i}", histology=["sclc", "adenocarcinoma", "squamous"][i % 3], tfi=f"{60 + i}d",
                            line=2 + i % 2, central_airway_stenosis=bool(i % 4 == 0)))
    return records


def test_threads_give_the_sequential_answers(backend_kb):
    kb = backend_kb
    records = _cohort() if interactive(kb) else _cohort(6)
    sequential = [_summary(kb.evaluate(r)) for r in records]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda r: _summary(kb.evaluate(r)), records * 3))
    assert threaded == sequential * 3
    # and whole batches at once, in threads: each its own patients
    batches = [records[i:] + records[:i] for i in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda b: [_summary(r) for r in kb.evaluate_many(b)], batches))
    assert together == [sequential[i:] + sequential[:i] for i in range(4)]


def test_two_knowledge_bases_in_one_process_do_not_see_each_other(backend_kb, tmp_path):
    backend = backend_kb.backend.name
    a = oncologic.load(write_kb(tmp_path, 'concept c if histology = sclc\n  source doc "s"', name="a"), backend=backend)
    b = oncologic.load(write_kb(tmp_path, 'concept c if histology = squamous\n  source doc "s"', name="b"), backend=backend)
    pa = {"id": "a1", "cancer": "lung", "histology": "sclc"}
    pb = {"id": "b1", "cancer": "lung", "histology": "squamous"}
    for _ in range(3):
        assert a.evaluate(pa).derived == ["c"] and b.evaluate(pb).derived == ["c"]
        assert a.evaluate(pb).derived == [] and b.evaluate(pa).derived == []

    def both(i):
        return (a.evaluate(pa).derived, b.evaluate(pb).derived, a.evaluate(pb).derived)
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert set(map(str, pool.map(both, range(30)))) == {str((["c"], ["c"], []))}


def test_no_facts_are_left_behind(backend_kb):
    kb = backend_kb
    first = _summary(kb.evaluate(lung(id="x", histology="sclc", tfi="45d", line=2)))
    kb.evaluate(lung(id="y", histology="squamous", mutations=[], progression="extensive", line=3))
    assert _summary(kb.evaluate(lung(id="x", histology="sclc", tfi="45d", line=2))) == first


def test_a_batch_gives_the_answers_of_one_at_a_time(backend_kb):
    kb = backend_kb
    records = _cohort(130)  # more than one batch
    batched = [_summary(r) for r in kb.evaluate_many(records)]
    step = 1 if interactive(kb) else 26  # DuckDB: a few alone, and all as pyDatalog alone
    assert batched[::step] == [_summary(kb.evaluate(r)) for r in records[::step]]
    assert batched == [_summary(shipped_kb("pydatalog").evaluate(r)) for r in records]


def test_views_dropped_beyond_the_limit_are_rebuilt_when_asked_again():
    """pyDatalog's own view cache (a least-recently-used set of loaded views)."""
    kb = oncologic.KnowledgeBase(shipped_kb().compiled, backend="pydatalog")  # its own engine: the limit stays local
    kb.backend.MAX_VIEWS = 2
    record = lung(id="v", histology="sclc", tfi="45d", line=2)
    goals = ["topotecan", "refractory_sclc", "anlotinib+irinotecan", "hcc", "bevacizumab+erlotinib"]
    first = [kb.explain(record, g).to_dict() for g in goals]
    assert len(kb.backend._local.extra) == 2
    assert [kb.explain(record, g).to_dict() for g in reversed(goals)] == first[::-1]
    assert first == [shipped_kb().explain(record, g).to_dict() for g in goals]
