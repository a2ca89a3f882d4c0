"""Throughput of the CDS Hooks service's patient-view on loopback (issue 16 item 5).

Starts `oncologic serve --insecure-dev --port 0` as its own process (or uses --url), warms it up,
then sends patient-view requests for the bundled example patients from an asyncio httpx client
with CONCURRENCY requests in flight, until REQUESTS have been answered or SECONDS have passed,
whichever comes first (the loop is bounded in count and time, and only targets 127.0.0.1).
Prints requests/s, p50/p90/p99 latency and the error count as a Markdown table row, and writes
them as JSON to bench/serve/results.json. With --token-file, each request carries a fresh token
(not used by default: the JWT check is measured apart, it is not the engine).

    python bench/serve/run.py --requests 2000 --concurrency 8 --seconds 60
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "patients"


def patients() -> list[dict]:
    import yaml
    out = []
    for path in sorted(EXAMPLES.iterdir()):
        if path.suffix in (".json", ".yaml"):
            text = path.read_text(encoding="utf-8")
            out.append(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))
    return out


def body(patient: dict) -> dict:
    return {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/bench", "patientId": str(patient["id"])},
            "extension": {"org.oncologic.record": patient}}


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "oncologic", "serve", "--insecure-dev", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "listening on " in line:
            return proc, line.split("listening on ", 1)[1].split()[0]
    proc.kill()
    raise SystemExit("the service did not start")


async def load(url: str, records: list[dict], requests: int, concurrency: int, seconds: float) -> dict:
    import httpx
    latencies: list[float] = []
    errors = 0
    sent = 0
    stop_at = time.monotonic() + seconds
    path = "/cds-services/oncologic-patient-view"
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for patient in records[:20]:  # warm-up, not counted
            (await client.post(path, json=body(patient))).raise_for_status()

        async def worker():
            nonlocal sent, errors
            while sent < requests and time.monotonic() < stop_at:
                patient = records[sent % len(records)]
                sent += 1
                began = time.perf_counter()
                response = await client.post(path, json=body(patient))
                latencies.append(time.perf_counter() - began)
                if response.status_code != 200:
                    errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(pct(50), 1),
            "p90_ms": round(pct(90), 1), "p99_ms": round(pct(99), 1),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 1), "concurrency": concurrency,
            "patients": len(records), "python": platform.python_version(), "cores": os.cpu_count(),
            "load_before": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="stop after this many answered requests")
    parser.add_argument("--seconds", type=float, default=60, help="stop after this many seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--url", default=None, help="a running service on loopback (default: start one)")
    args = parser.parse_args()
    if args.url and not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise SystemExit("--url must be a loopback address")
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server()
    try:
        found = asyncio.run(load(url, patients(), args.requests, args.concurrency, args.seconds))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(found, indent=2) + "\n")
    print("| requests | concurrency | requests/s | p50 ms | p90 ms | p99 ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {found['requests']} | {found['concurrency']} | {found['requests_per_s']} | {found['p50_ms']} | "
          f"{found['p90_ms']} | {found['p99_ms']} | {found['errors']} |")
    print(f"(written to {out.relative_to(ROOT)}; load average before: {found['load_before']:.2f})")


if __name__ == "__main__":
    main()
