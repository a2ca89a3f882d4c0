"""What the service keeps in memory: recent hook requests (for the explanation page) and feedback.

A hook request's patient is kept under a random reference (128 bits, URL-safe) that the cards'
links carry: the explanation page is opened by a browser that has no JWT, so the link itself is
the capability — it cannot be guessed, and it lives only :data:`TTL` seconds and among the last
:data:`SIZE` requests (least recently used dropped first). Nothing is written to disk.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Optional

from ..values import Record

SIZE = 512
TTL = 3600
FEEDBACK_SIZE = 10_000


@dataclass(eq=False, repr=False)
class Visit(Record):
    """A hook request: the patient's record (the flat record the engine read), where each value
    came from (FHIR provenance by attribute, when the record came from FHIR), and when."""

    record: dict
    provenance: dict
    hook: str
    hook_instance: str
    created: float = field(default_factory=time.time)


class Visits:
    def __init__(self, size: int = SIZE, ttl: float = TTL):
        self.size = size
        self.ttl = ttl
        self._items: OrderedDict[str, Visit] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, visit: Visit) -> str:
        ref = secrets.token_urlsafe(16)
        with self._lock:
            self._items[ref] = visit
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return ref

    def get(self, ref: str) -> Optional[Visit]:
        with self._lock:
            visit = self._items.get(ref)
            if visit is None:
                return None
            if time.time() - visit.created > self.ttl:
                del self._items[ref]
                return None
            self._items.move_to_end(ref)
            return visit


class Feedback:
    """The feedback of CDS clients, the last :data:`FEEDBACK_SIZE` entries, by service."""

    def __init__(self, size: int = FEEDBACK_SIZE):
        self._items: deque[tuple[str, dict[str, Any]]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, service: str, entries: list[dict]) -> None:
        with self._lock:
            self._items.extend((service, entry) for entry in entries)

    def of(self, service: str) -> list[dict]:
        with self._lock:
            return [entry for s, entry in self._items if s == service]
