"""The cohort benchmark (issue 15, point 5): engines side by side on seeded synthetic cohorts.

    python bench/cohort/run.py [--sizes 10000,100000,1000000] [--engines yardstick,pydatalog,duckdb,spark]
                               [--repeat 3] [--seed 1] [--chunk 10000] [--pydatalog-max 10000] [--json FILE]

For each size the cohort is generated once per seed into ``bench/cohort/data/`` (git-ignored;
:mod:`generate`). Then, ``--repeat`` times, every engine is measured once, round robin (so a
burst of load on the machine hits every engine alike), **each measurement in a fresh
process** (``run.py --worker``); the table gives the median (and the range).

What a worker times, streaming the JSONL in chunks of ``--chunk`` patients (pyDatalog in
batches of ``KnowledgeBase.BATCH``, its cohort path ``evaluate_many``):

- *read + validate*: reading the lines and :func:`~oncologic.records.patient.validate`;
- *facts*: :func:`~oncologic.compile.facts.patient_facts`;
- *evaluation*: facts → the ``answer`` view's rows for every patient (``Backend.answer``, or
  the yardstick's); the goal column of the issue;
- *setup*: loading the knowledge base and making the engine (for DuckDB: its statements);
- the process's *wall* time and *peak RSS* (``os.wait4``'s ``ru_maxrss`` of that child).

Engines: ``yardstick`` (:mod:`yardstick`, the plain-Python reference), and every registered
backend by name (``pydatalog``, ``duckdb``, ``spark``: :func:`oncologic.backends.available`);
a backend that is not registered or cannot be imported is skipped with a line saying so.
When the CLI has a ``cohort`` command, its end-to-end wall time is measured as well
(``oncologic cohort FILE --backend NAME --out TMP``, engines ``cohort:NAME``).

pyDatalog is time-boxed: measured up to ``--pydatalog-max`` patients, extrapolated linearly
above (marked ``≈``, no memory figure).

Every worker also returns a digest of the answer relation (rows and an order-independent sum
of their hashes, with ``PYTHONHASHSEED=0``): engines that disagree at a size are reported and
the run exits with status 1.

Writes the raw numbers as JSON (``--json``, default ``bench/cohort/data/results.json``) and
prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

DEFAULT_SIZES = "10000,100000,1000000"
DEFAULT_ENGINES = "yardstick,pydatalog,duckdb,spark"
MASK = (1 << 64) - 1


# -- the worker: one measurement in its own process --

def worker(engine: str, path: str, chunk: int) -> dict:
    import oncologic
    from itertools import islice
    from oncologic.compile.facts import patient_facts
    from oncologic.errors import PatientError
    from oncologic.records.patient import validate
    from oncologic.records.reading import read_entries

    t0 = time.perf_counter()
    kb = oncologic.load()
    compiled = kb.compiled
    checked = compiled.checked
    if engine == "yardstick":
        from yardstick import Yardstick
        answer = Yardstick(compiled.program).answer
    else:
        answer = oncologic.backends.create(engine, compiled.program).answer
        if engine == "pydatalog":
            chunk = kb.BATCH
    setup = time.perf_counter() - t0
    read = facts_t = evaluate = 0.0
    patients = rows = 0
    digest = 0
    entries = read_entries(path)
    while True:
        t = time.perf_counter()
        raw = list(islice(entries, chunk))
        if not raw:
            break
        patients_chunk = []
        for where, line, rec in raw:
            if isinstance(rec, PatientError):
                raise rec
            patients_chunk.append(validate(rec, checked, where, line=line))
        t1 = time.perf_counter()
        batch = [patient_facts(p.values, checked) for p in patients_chunk]
        t2 = time.perf_counter()
        result = answer(batch)
        t3 = time.perf_counter()
        read += t1 - t
        facts_t += t2 - t1
        evaluate += t3 - t2
        for i, patient_rows in enumerate(result, patients):
            rows += len(patient_rows)
            digest = (digest + sum(hash((i, *r)) & MASK for r in patient_rows)) & MASK
        patients += len(batch)
        del raw, patients_chunk, batch, result
    return {"engine": engine, "patients": patients, "rows": rows, "digest": f"{digest:016x}", "setup_s": setup,
            "read_validate_s": read, "facts_s": facts_t, "evaluate_s": evaluate, "chunk": chunk}


# -- the harness --

def measure(cmd: list[str], env: dict) -> tuple[float, int, int, str]:
    """Run ``cmd``; its wall time, peak RSS in bytes (this child only), exit status and stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if proc.returncode:
            sys.stderr.write(err.read().decode()[-3000:])
        return wall, usage.ru_maxrss * 1024, proc.returncode, text


def engines_available(wanted: list[str]) -> tuple[list[str], list[str]]:
    """The engines that can run, and a line for each one skipped."""
    from oncologic import backends
    from oncologic.errors import OncologicError

    ok, skipped = [], []
    for name in wanted:
        if name == "yardstick":
            ok.append(name)
            continue
        if name not in backends.available():
            skipped.append(f"{name}: not registered (oncologic.backends.available(): {', '.join(backends.available())})")
            continue
        try:
            backends.factory(name)
        except (OncologicError, ImportError) as err:
            skipped.append(f"{name}: cannot be imported ({err})")
            continue
        ok.append(name)
    return ok, skipped


def has_cohort_command(env: dict) -> bool:
    done = subprocess.run([sys.executable, "-m", "oncologic", "cohort", "--help"], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return done.returncode == 0


def cohort_file(size: int, seed: int) -> Path:
    from generate import default_path, generate

    path = default_path(size, seed)
    if not path.exists():
        try:
            import pyarrow  # noqa: F401
            parquet = True
        except ImportError:
            parquet = False
            print("pyarrow is not installed: no Parquet copy of the cohort (pip install pyarrow)", file=sys.stderr)
        t = time.perf_counter()
        generate(size, seed, path, parquet=parquet)
        print(f"generated {path} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return path


def run(args) -> dict:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONHASHSEED"] = "0"  # the answer digest is a sum of hashes: the same in every worker
    engines, skipped = engines_available([e.strip() for e in args.engines.split(",") if e.strip()])
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    cohort_cmd = has_cohort_command(env)
    if not cohort_cmd:
        line = "cohort command: `oncologic cohort` does not exist on this branch (no end-to-end wall time)"
        skipped.append(line)
        print(f"skipped {line}", file=sys.stderr)
    subprocess.run([sys.executable, "-c", "import oncologic; oncologic.load()"], cwd=ROOT, env=env, check=True)
    results: dict = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_at_start": os.getloadavg()},
        "seed": args.seed, "chunk": args.chunk, "repeat": args.repeat, "pydatalog_max": args.pydatalog_max,
        "skipped": skipped, "sizes": {},
    }
    for size in sizes:
        path = cohort_file(size, args.seed)
        runs: dict[str, list[dict]] = {}
        todo = [e for e in engines if e != "pydatalog" or size <= args.pydatalog_max]
        if cohort_cmd:
            todo += [f"cohort:{e}" for e in engines if e != "yardstick" and (e != "pydatalog" or size <= args.pydatalog_max)]
        for rep in range(args.repeat):
            for engine in todo:  # round robin
                if engine.startswith("cohort:"):
                    with tempfile.TemporaryDirectory() as tmp:
                        cmd = [sys.executable, "-m", "oncologic", "cohort", str(path), "--backend", engine[7:],
                               "--out", str(Path(tmp) / "out.jsonl")]
                        wall, rss, status, _ = measure(cmd, env)
                    record = {"engine": engine, "patients": size}
                else:
                    cmd = [sys.executable, str(HERE / "run.py"), "--worker", engine, "--input", str(path),
                           "--chunk", str(args.chunk)]
                    wall, rss, status, text = measure(cmd, env)
                    record = json.loads(text.strip().splitlines()[-1]) if status == 0 else {"engine": engine}
                record.update(wall_s=wall, peak_rss_mb=rss / 2 ** 20, status=status, repetition=rep,
                              load=os.getloadavg()[0])
                runs.setdefault(engine, []).append(record)
                shown = f"eval {record['evaluate_s']:.2f} s, " if "evaluate_s" in record else ""
                print(f"  {size:>8} {engine:<18} rep {rep + 1}: {shown}wall {wall:.2f} s, "
                      f"peak {rss / 2 ** 20:.0f} MB{'' if status == 0 else f', EXIT {status}'}", file=sys.stderr)
        results["sizes"][str(size)] = runs
    results["disagreements"] = check_digests(results)
    return results


def check_digests(results: dict) -> list[str]:
    out = []
    for size, runs in results["sizes"].items():
        seen = {(r["engine"], r["digest"], r["rows"]) for rs in runs.values() for r in rs if "digest" in r}
        if len({(d, n) for _, d, n in seen}) > 1:
            out.append(f"{size} patients: engines disagree: " + "; ".join(f"{e} {n} rows {d}" for e, d, n in sorted(seen)))
    return out


# -- the table --

def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get("status") == 0 and key in r]
    return statistics.median(values) if values else None


def _span(runs: list[dict], key: str, digits: int = 2) -> str:
    """The median of ``key`` over the successful runs, and their range when there are several."""
    values = sorted(r[key] for r in runs if r.get("status") == 0 and key in r)
    if not values:
        return "—"
    text = f"{statistics.median(values):.{digits}f}"
    return text if len(values) == 1 else f"{text} ({values[0]:.{digits}f}–{values[-1]:.{digits}f})"


def summary(results: dict) -> dict:
    """Per size and engine the medians, pyDatalog extrapolated above its time box."""
    table: dict[str, dict[str, dict]] = {}
    measured_pyd = [(int(s), _median(runs.get("pydatalog", []), "evaluate_s"))
                    for s, runs in results["sizes"].items() if runs.get("pydatalog")]
    measured_pyd = [(s, v) for s, v in measured_pyd if v is not None]
    for size, runs in results["sizes"].items():
        row = table.setdefault(size, {})
        for engine, rs in runs.items():
            row[engine] = {k: _median(rs, k) for k in ("evaluate_s", "read_validate_s", "facts_s", "setup_s",
                                                        "wall_s", "peak_rss_mb")}
            row[engine]["runs"] = rs
        if "pydatalog" not in runs and measured_pyd:
            base, seconds = max(measured_pyd)
            row["pydatalog"] = {"evaluate_s": seconds * int(size) / base, "extrapolated_from": base}
    return table


def markdown(results: dict) -> str:
    table = summary(results)
    lines = ["| patients | engine | evaluation s | read + validate s | facts s | setup s | process wall s | peak MB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for size, row in table.items():
        for engine, m in row.items():
            if "extrapolated_from" in m:
                lines.append(f"| {int(size):,} | {engine} | ≈ {m['evaluate_s']:.0f} (extrapolated from "
                             f"{m['extrapolated_from']:,}) | | | | | |")
                continue
            rs = m["runs"]
            lines.append(f"| {int(size):,} | {engine} | {_span(rs, 'evaluate_s')} | {_span(rs, 'read_validate_s')} | "
                         f"{_span(rs, 'facts_s')} | {_span(rs, 'setup_s')} | {_span(rs, 'wall_s')} | "
                         f"{_span(rs, 'peak_rss_mb', 0)} |")
    goals = ["", "| goal | " + " | ".join(f"{int(s):,}" for s in table) + " |",
             "|---|" + "---:|" * len(table)]

    def ratio(a, b, key="evaluate_s"):
        cells = []
        for row in table.values():
            x, y = row.get(a, {}).get(key), row.get(b, {}).get(key)
            approx = "≈ " if "extrapolated_from" in row.get(a, {}) or "extrapolated_from" in row.get(b, {}) else ""
            cells.append(f"{approx}{x / y:.2f}×" if x and y else "—")
        return cells

    goals.append("| DuckDB / yardstick, evaluation (goal ≤ 1.5×) | " + " | ".join(ratio("duckdb", "yardstick")) + " |")
    goals.append("| pyDatalog / DuckDB, evaluation (goal ≥ 15×) | " + " | ".join(ratio("pydatalog", "duckdb")) + " |")
    goals.append("| pyDatalog / yardstick, evaluation | " + " | ".join(ratio("pydatalog", "yardstick")) + " |")
    goals.append("| Spark / DuckDB, evaluation (goal ≤ 3× at 1M) | " + " | ".join(ratio("spark", "duckdb")) + " |")
    goals.append("| DuckDB peak MB (goal ≤ 1024 at 1M) | " + " | ".join(
        f"{row['duckdb']['peak_rss_mb']:.0f}" if row.get("duckdb", {}).get("peak_rss_mb") else "—"
        for row in table.values()) + " |")
    notes = [""] + [f"- skipped {s}" for s in results["skipped"]]
    compared = [f"{int(size):,}" for size, runs in results["sizes"].items() if len(runs) > 1]
    notes += [f"- DISAGREEMENT {d}" for d in results["disagreements"]] or [
        f"- the engines gave the same answer relation (digest) at {', '.join(compared)} patients" if compared
        else "- one engine per size: no answers compared"]
    return "\n".join(lines + goals + notes)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default=os.environ.get("BENCH_SIZES") or DEFAULT_SIZES)
    ap.add_argument("--engines", default=DEFAULT_ENGINES)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=10_000, help="patients per evaluation (pyDatalog: its own batch)")
    ap.add_argument("--pydatalog-max", type=int, default=10_000, help="largest cohort pyDatalog is measured on")
    ap.add_argument("--json", type=Path, default=HERE / "data" / "results.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.input, args.chunk)))
        return 0
    results = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    print(f"\nraw numbers: {args.json}", file=sys.stderr)
    return 1 if results["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
