"""Cold command-line start: `oncologic recommend` as a ratio to importing its libraries.

Each command runs N times in a fresh process; the median wall time is reported. The floor is
`python -c "import lark, click, pyDatalog.pyDatalog"` (the issue's yardstick). The first
`recommend` after a change of the rule files also parses and compiles (cache miss); it is
measured separately with a fresh cache folder.

Python's bytecode cache is on for every command, as on a user's machine (pip compiles an
installed package; an editable one writes __pycache__ on first use): a PYTHONDONTWRITEBYTECODE
set in the caller's environment is dropped, or the floor, whose libraries come with bytecode,
would be compared with our package compiled from source on every run.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PATIENT = str(ROOT / "examples" / "patients" / "sclc_second_line.json")
N = int(os.environ.get("BENCH_RUNS", "15"))


def timed(cmd, env=None, runs=N):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main():
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([PY, "-c", "import oncologic.cli, oncologic.report.text"], check=True, cwd=ROOT, env=base_env)  # write bytecode
    floor = timed([PY, "-c", "import lark, click, pyDatalog.pyDatalog"], base_env)
    with tempfile.TemporaryDirectory() as cache:
        env = {**base_env, "ONCOLOGIC_CACHE_DIR": cache}
        subprocess.run([PY, "-m", "oncologic", "check"], check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
        warm_cache_json = timed([PY, "-m", "oncologic", "recommend", PATIENT, "--format", "json"], env)
        warm_cache_text = timed([PY, "-m", "oncologic", "recommend", PATIENT], env)
        explain = timed([PY, "-m", "oncologic", "explain", PATIENT, "anlotinib+irinotecan", "--format", "json"], env)
    misses = []
    for _ in range(max(3, N // 5)):
        with tempfile.TemporaryDirectory() as cache:
            env = {**base_env, "ONCOLOGIC_CACHE_DIR": cache}
            start = time.perf_counter()
            subprocess.run([PY, "-m", "oncologic", "recommend", PATIENT, "--format", "json"], check=True,
                           stdout=subprocess.DEVNULL, cwd=ROOT, env=env)
            misses.append(time.perf_counter() - start)
    rows = [
        ("floor: import lark, click, pyDatalog", floor),
        ("recommend --format json (cached KB)", warm_cache_json),
        ("recommend, text (cached KB)", warm_cache_text),
        ("explain --format json (cached KB)", explain),
        ("recommend --format json (cache miss: parse + compile)", (statistics.median(misses), min(misses))),
    ]
    print(f"{'command':58} {'median s':>9} {'min s':>7} {'x floor':>8}")
    for name, (median, low) in rows:
        print(f"{name:58} {median:9.3f} {low:7.3f} {median / floor[0]:8.2f}")


if __name__ == "__main__":
    main()
