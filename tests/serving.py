"""Helpers of the service's tests: `oncologic serve` as a real process on a loopback port, the
CDS clients' keys and tokens, and hook requests."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from support import EXAMPLES, ROOT

PATIENT_VIEW = "oncologic-patient-view"
ORDER_SELECT = "oncologic-order-select"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


class Server:
    """``oncologic serve ARGS --port 0`` started and read until it names its URL; stopped by :meth:`stop`."""

    def __init__(self, *args: str, timeout: float = 60):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "oncologic", "serve", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.lines: list[str] = []
        deadline = time.monotonic() + timeout
        self.url = None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if "listening on " in line:
                self.url = line.split("listening on ", 1)[1].split()[0]
                break
        if self.url is None:
            self.stop()
            raise RuntimeError("oncologic serve did not start:\n" + "".join(self.lines))
        # keep reading stderr so the server never blocks on a full pipe; what it logs is kept
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def dev():
    """An httpx client of one `oncologic serve --insecure-dev` for the session (per test worker)."""
    import httpx
    server = Server("--insecure-dev")
    assert "WARNING: --insecure-dev: this service accepts requests WITHOUT authentication." in "".join(server.lines)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    server.stop()


def record(name: str) -> dict:
    import yaml
    path = EXAMPLES / name
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def patient_view(patient: dict | None = None, prefetch: dict | None = None, patient_id: str | None = None) -> dict:
    """A patient-view request carrying a flat record (the org.oncologic.record extension) or a prefetch."""
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/p1", "patientId": patient_id or (patient or {}).get("id", "p")}}
    if patient is not None:
        body["extension"] = {"org.oncologic.record": patient}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def medication_request(ident: str, code: str, display: str) -> dict:
    return {"resourceType": "MedicationRequest", "id": ident, "status": "draft", "intent": "proposal",
            "subject": {"reference": "Patient/p"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]}}


def order_select(patient: dict, *orders: dict) -> dict:
    body = patient_view(patient)
    body["hook"] = "order-select"
    body["context"].update(selections=[f"MedicationRequest/{o['id']}" for o in orders],
                           draftOrders={"resourceType": "Bundle", "type": "collection",
                                        "entry": [{"resource": o} for o in orders]})
    return body


def prefetch_of(bundle: dict, templates: dict[str, str]) -> dict:
    """A Bundle's resources as a CDS client would prefetch them for ``templates``: each key's
    resource type (``Patient/...`` a resource, ``Type?patient=`` a searchset; null when none)."""
    out: dict = {}
    resources = [e["resource"] for e in bundle.get("entry", [])]
    for key, template in templates.items():
        kind = template.split("/", 1)[0].split("?", 1)[0]
        found = [r for r in resources if r["resourceType"] == kind]
        if "?" not in template:
            out[key] = found[0] if found else None
        else:
            out[key] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]} \
                if found else None
    return out


SCHEMA = json.loads((Path(__file__).parent / "data" / "cds_hooks_card.schema.json").read_text(encoding="utf-8"))
