"""Cohorts on every core (issue 15): `oncologic cohort --workers N` and
`evaluate_many(..., workers=N)` give exactly what one process gives — the same bytes in every
output format, the same bad-record messages in the same order, the same summary and exit
status — while holding at most workers + 1 chunks; Ctrl-C and a dead worker end the command
cleanly (exit 130, exit 1), never a traceback or a hang."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from itertools import count

import pytest

import oncologic
from oncologic.errors import OncologicError, PatientError
from oncologic.reason.results import Result
from support import ROOT

pytest.importorskip("duckdb", reason="duckdb is not installed (pip install oncologic[duckdb])")

BUNDLED = ROOT / "examples" / "cohort" / "patients.jsonl"
BAD_LINES = {  # line number (from 1) -> a bad record put there
    3: "{not json",
    40: '{"id": "b-ecog", "cancer": "lung", "ecog": 9}',
    41: "[1, 2]",
    150: '{"id": "b-attr", "cancer": "hcc", "colour": "red"}',
    299: '{"id": "b-tfi", "cancer": "lung", "histology": "sclc", "tfi": "soon"}',
}


def run(*args, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "oncologic", "cohort", *map(str, args), "--no-progress"],
                          capture_output=True, cwd=ROOT, env=env, timeout=600, **kw)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A few hundred generated patients with bad records mixed in (BAD_LINES)."""
    folder = tmp_path_factory.mktemp("pool")
    good = folder / "good.jsonl"
    subprocess.run([sys.executable, str(ROOT / "bench" / "cohort" / "generate.py"), "300", "--seed", "5",
                    "--out", str(good)], check=True, capture_output=True, timeout=300)
    lines = good.read_text().splitlines()
    for number in sorted(BAD_LINES):
        lines.insert(number - 1, BAD_LINES[number])
    path = folder / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_two_workers_write_the_same_bytes_as_one_on_the_bundled_cohort(tmp_path, fmt):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"r{workers}.{fmt}"
        where = [] if fmt == "jsonl" else ["--out", out]
        done = run(BUNDLED, "--format", fmt, *where, "--chunk", 10, "--workers", workers)
        assert done.returncode == 0, done.stderr.decode()
        assert b"Traceback" not in done.stderr
        outputs.append((done.stdout if fmt == "jsonl" else out.read_bytes(), done.stderr))
    assert outputs[0] == outputs[1]  # the results and the summary table
    if fmt == "jsonl":
        assert len(outputs[0][0].splitlines()) == 62


def test_bad_records_give_the_same_messages_order_summary_and_exit_status(mixed):
    one, two = (run(mixed, "--chunk", 40, "--workers", w) for w in (1, 2))
    assert two.returncode == one.returncode == 2
    assert two.stdout == one.stdout and len(one.stdout.splitlines()) == 300
    assert two.stderr == one.stderr
    errors = [line for line in one.stderr.decode().splitlines() if line.startswith("error: ")]
    assert [e.split(":")[2] for e in errors[:-1]] == [str(n) for n in sorted(BAD_LINES)]  # FILE:LINE, in order
    assert errors[-1].endswith("5 bad record(s), reported above; every other record was evaluated")
    assert "│  305 │       300 │   5 │" in one.stderr.decode()  # read, evaluated, bad


def test_evaluate_many_with_workers_yields_the_same_results_and_errors(mixed):
    kb = oncologic.load()
    alone = list(kb.evaluate_many(mixed, errors="collect", chunk=40))
    pooled = list(kb.evaluate_many(mixed, errors="collect", chunk=40, workers=2))
    assert len(pooled) == len(alone) == 305
    for a, b in zip(alone, pooled):
        assert type(a) is type(b)
        if isinstance(a, PatientError):
            assert (str(b), b.source, b.attribute, b.line) == (str(a), a.source, a.attribute, a.line)
        else:
            assert b == a and b.to_dict() == a.to_dict()  # rebuilt from its JSON, exactly
    with pytest.raises(PatientError) as raised:
        got = []
        for result in kb.evaluate_many(mixed, chunk=40, workers=2):
            got.append(result.patient)
    assert str(raised.value).startswith(f"{mixed}:3: ") and raised.value.line == 3
    assert got == [alone[0].patient, alone[1].patient]


def test_a_result_is_rebuilt_exactly_from_its_json():
    kb = oncologic.load()
    for result in kb.evaluate_many(BUNDLED):
        text = result.to_json(indent=None)
        back = Result.from_dict(json.loads(text))
        assert back == result and back.to_dict() == result.to_dict() and back.to_json(indent=None) == text
    with pytest.raises(TypeError):
        Result.from_dict({"patient": "x", "colour": "red"})


def test_no_more_than_workers_plus_one_chunks_are_in_flight():
    kb = oncologic.load()
    pulled = count()
    seen = []
    given = [{"id": f"p{i}", "cancer": "hcc"} for i in range(60)]

    def records():
        for record in given:
            seen.append(next(pulled))
            yield record
    ahead = []
    results = []
    for result in kb.evaluate_many(records(), chunk=5, workers=2):
        results.append(result)
        ahead.append(len(seen) - len(results) + 1)  # records read and not yet yielded, this one included
    assert max(ahead) <= (2 + 1) * 5
    assert max(ahead) > 5  # more than one chunk was out at a time
    assert [r.to_dict() for r in results] == [r.to_dict() for r in kb.evaluate_many(given)]


def test_workers_below_one_are_refused(tmp_path):
    for value in ("0", "-1"):
        done = run(BUNDLED, "--workers", value)
        assert done.returncode == 2 and b"Traceback" not in done.stderr
        assert b"Invalid value for '--workers'" in done.stderr
    kb = oncologic.load()
    for value in (0, -2, True, 1.5):
        with pytest.raises(OncologicError, match="workers=.*expected a whole number of processes, at least 1"):
            next(kb.evaluate_many(BUNDLED, workers=value))
    unloaded = oncologic.KnowledgeBase(kb.compiled)
    with pytest.raises(OncologicError, match="need a knowledge base made by oncologic.load"):
        next(unloaded.evaluate_many(BUNDLED, workers=2, chunk=10))


def test_duckdb_threads_option():
    import oncologic.backends as backends
    kb = oncologic.load()
    assert backends.create("duckdb", kb.compiled.program, threads=1).threads == 1
    with pytest.raises(OncologicError, match="threads=0: expected a whole number, at least 1"):
        backends.create("duckdb", kb.compiled.program, threads=0)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _workers(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    found.append(child)
        except OSError:
            pass
    return found


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def _start(path, tmp_path):
    env = {**os.environ, "COLUMNS": "120"}
    out = open(tmp_path / "out.jsonl", "wb")
    return subprocess.Popen([sys.executable, "-m", "oncologic", "cohort", str(path), "--backend", "pydatalog",
                             "--chunk", "10", "--workers", "2", "--no-progress"],
                            stdout=out, stderr=subprocess.PIPE, cwd=ROOT, env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(condition, seconds=300):
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_ctrl_c_stops_the_workers_without_a_traceback(mixed, tmp_path):
    proc = _start(mixed, tmp_path)
    _wait_for(lambda: (tmp_path / "out.jsonl").stat().st_size > 0 or proc.poll() is not None)
    workers = _workers(proc.pid)
    assert proc.poll() is None and workers, "the cohort ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
    last = err.decode().strip().splitlines()[-1]
    assert re.fullmatch(r"interrupted: \d+ results written to \S+ \(complete lines only\)", last), last
    _wait_for(lambda: all(_gone(w) for w in workers), 30)


def test_a_worker_that_dies_is_exit_1_with_a_message_not_a_hang(mixed, tmp_path):
    proc = _start(mixed, tmp_path)
    _wait_for(lambda: _workers(proc.pid) or proc.poll() is not None)
    victims = _workers(proc.pid)
    assert victims, "the cohort ended before a worker could be killed"
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()
    assert b"a worker process stopped unexpectedly" in err and b"Traceback" not in err
    _wait_for(lambda: all(_gone(w) for w in _workers(proc.pid) + victims), 30)


def test_a_pool_found_broken_when_the_next_chunk_is_sent_is_the_same_message(monkeypatch):
    """A worker can die before the next chunk is sent: then submit(), not result(), sees the broken
    pool — the CI run on cc926e4 printed 'internal error: BrokenProcessPool' for that order."""
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool
    from oncologic.pool import WorkerError

    real = concurrent.futures.ProcessPoolExecutor

    class BreaksOnThirdSubmit(real):
        sent = 0

        def submit(self, *args, **kw):
            type(self).sent += 1
            if type(self).sent == 3:
                raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
            return super().submit(*args, **kw)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", BreaksOnThirdSubmit)
    kb = oncologic.load()
    given = [{"id": f"p{i}", "cancer": "hcc"} for i in range(30)]
    with pytest.raises(WorkerError, match="a worker process stopped unexpectedly"):
        list(kb.evaluate_many(given, chunk=5, workers=2))
