"""Telling a FHIR resource from a flat record, without importing the reader (or its extras)."""
from __future__ import annotations

from typing import Any


def is_fhir(raw: Any) -> bool:
    """A FHIR resource (a Bundle) rather than a flat record: it names its ``resourceType``."""
    return isinstance(raw, dict) and isinstance(raw.get("resourceType"), str)
