"""A hook request's data: the prefetched FHIR resources → the patient's record; drafted orders → drug ids.

In: the request's ``prefetch`` (the keys of :func:`templates`, each a resource, a searchset
Bundle or null) or the ``org.oncologic.record`` extension (a flat CONTRACT §1 record, for
clients that keep the engine's own record); the checked knowledge base. Out: ``(record,
provenance)`` by :func:`oncologic.records.fhir.read_resources`, or :class:`HookError`.

The service never queries the FHIR server named in ``fhirServer``: what is not prefetched is not
read. A prefetch key that is absent means the client did not (or could not) fetch it, so the
request is refused with 412 Precondition Failed naming the keys, as CDS Hooks 2.0 prescribes for
a service that cannot obtain the data itself; a key whose value is null means "no such data" and
is read as no resources (the attributes stay unknown, and the cards say what is missing).
"""
from __future__ import annotations

import datetime
from typing import Any, Optional

RECORD_EXTENSION = "org.oncologic.record"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


class HookError(Exception):
    """A request the service refuses: HTTP ``status``, a short ``error`` code, a message and
    extra JSON fields."""

    def __init__(self, status: int, error: str, message: str, **extra):
        super().__init__(message)
        self.status, self.error, self.message, self.extra = status, error, message, extra


def _reader():
    try:
        from ..records import fhir
    except ImportError as err:  # the `fhir` extra is not installed
        raise HookError(412, "fhir_reader_unavailable",
                        f"FHIR reader not available ({err.name or err}): pip install oncologic[fhir]") from None
    return fhir


def templates(checked) -> dict[str, str]:
    """The prefetch templates the service asks for (:func:`oncologic.records.fhir.prefetch_templates`);
    none when the FHIR reader is not installed."""
    try:
        return _reader().prefetch_templates(checked)
    except HookError:
        return {}


def record_of(checked, body: dict, patient_id: str, as_of: Optional[datetime.date] = None) -> tuple[dict, dict]:
    """The patient's flat record and the provenance of its values, from the request ``body``."""
    extension = body.get("extension") or {}
    if isinstance(extension, dict) and RECORD_EXTENSION in extension:
        record = extension[RECORD_EXTENSION]
        if not isinstance(record, dict):
            raise HookError(400, "bad_request", f"extension.{RECORD_EXTENSION} must be an object: a flat patient record")
        _same_patient(record, patient_id)
        return record, {}
    fhir = _reader()
    wanted = fhir.prefetch_templates(checked)
    prefetch = body.get("prefetch") or {}
    missing = [key for key in wanted if key not in prefetch]
    if missing:
        raise HookError(412, "prefetch_missing",
                        f"prefetch lacks {', '.join(missing)}: this service reads only prefetched resources and "
                        "does not query the FHIR server; send every key of the discovery's prefetch templates "
                        "(null for a key with no data)", missing=missing)
    resources: list[dict] = []
    for key in wanted:
        resources += _resources(key, prefetch[key])
    record, provenance = fhir.read_resources(resources, checked, as_of, source=f"prefetch of patient {patient_id}")
    _same_patient(record, patient_id)
    return record, {name: [fhir.shown_origin(o) for o in origins] for name, origins in provenance.items()}


def _same_patient(record: dict, patient_id: str) -> None:
    """The data must be the patient the hook is about."""
    if "id" in record and str(record["id"]) != patient_id:
        raise HookError(400, "patient_mismatch", f"the data is of patient {str(record['id'])[:80]!r}, "
                                                 f"context.patientId is {patient_id[:80]!r}")


def _resources(key: str, value: Any) -> list[dict]:
    """A prefetch value's resources: none for null, a Bundle's entries, or the resource itself."""
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise HookError(400, "bad_prefetch", f"prefetch.{key}: expected a FHIR resource, a Bundle or null")
    kind = value["resourceType"]
    if kind == "OperationOutcome":
        raise HookError(412, "prefetch_failed", f"prefetch.{key}: the client could not fetch it (an OperationOutcome); "
                                                "this service does not query the FHIR server", missing=[key])
    if kind != "Bundle":
        return [value]
    entries = value.get("entry") or []
    if not isinstance(entries, list):
        raise HookError(400, "bad_prefetch", f"prefetch.{key}: Bundle.entry must be an array")
    out = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise HookError(400, "bad_prefetch", f"prefetch.{key}: Bundle.entry[{i}] has no resource")
        if resource.get("resourceType") != "OperationOutcome":  # a searchset's warnings
            out.append(resource)
    return out


def ordered_drugs(checked, draft_orders: Any) -> tuple[list[str], list[str], list[str]]:
    """The drafted MedicationRequests of ``context.draftOrders`` (a Bundle): the drug ids their
    codes name (RxNorm, or any code the knowledge base declares on a drug; sorted, once each),
    how each order reads, and the codes of orders none of whose codes is a drug of the catalogue."""
    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise HookError(400, "bad_context", "context.draftOrders must be a FHIR Bundle")
    coded = checked.coded()
    drugs: set[str] = set()
    shown: list[str] = []
    unknown: list[str] = []
    for i, resource in enumerate(_resources("context.draftOrders", draft_orders)):
        if resource.get("resourceType") != "MedicationRequest":
            continue
        codings = _medication_codings(resource, f"context.draftOrders entry {i} (MedicationRequest/{str(resource.get('id', '?'))[:60]})")
        if not codings:
            raise HookError(400, "bad_context", f"context.draftOrders entry {i} (MedicationRequest/"
                                                f"{str(resource.get('id', '?'))[:60]}): its medication has no code")
        items = [(coded.get(c[:2]) or ("", "")) + c for c in codings]
        hit = next((item for item in items if item[1] is None and item[0] in checked.items), None)
        if hit:
            drugs.add(hit[0])
            shown.append(f"{hit[0]} ({_system_name(hit[2])} {hit[3]})")
        else:
            system, code, display = codings[0]
            unknown.append(f"{_system_name(system)} {code}" + (f" ({display})" if display else ""))
    return sorted(drugs), shown, unknown


def _system_name(uri: str) -> str:
    return "RxNorm" if uri == RXNORM else uri


def _medication_codings(resource: dict, where: str = "MedicationRequest") -> list[tuple[str, str, str]]:
    """(system, code, display) of the codings of a MedicationRequest's medicationCodeableConcept
    and of its contained Medication, RxNorm first. Raises :class:`HookError` (400) naming the
    element when one is of the wrong shape."""
    def shaped(value: Any, kind: type, element: str) -> Any:
        if value is not None and not isinstance(value, kind):
            raise HookError(400, "bad_context", f"{where}.{element}: expected a JSON "
                                                f"{'object' if kind is dict else 'array' if kind is list else 'string'}")
        return value
    concepts = [shaped(resource.get("medicationCodeableConcept"), dict, "medicationCodeableConcept") or {}]
    reference = shaped(resource.get("medicationReference"), dict, "medicationReference") or {}
    ref = shaped(reference.get("reference"), str, "medicationReference.reference") or ""
    if ref.startswith("#"):
        contained = shaped(resource.get("contained"), list, "contained") or []
        concepts += [shaped(c.get("code"), dict, "contained.code") or {} for c in contained
                     if isinstance(c, dict) and c.get("id") == ref[1:]]
    out = []
    for concept in concepts:
        for coding in shaped(concept.get("coding"), list, "coding") or []:
            if isinstance(coding, dict) and coding.get("code"):
                code = shaped(coding["code"], str, "coding.code")
                out.append((str(shaped(coding.get("system"), str, "coding.system") or ""), code,
                            str(shaped(coding.get("display"), str, "coding.display") or "")))
    return sorted(out, key=lambda c: c[0] != RXNORM)
