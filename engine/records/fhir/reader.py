"""The reader: a few generic patterns (``facts/fhir.yaml`` names them), never one function per
attribute. See the package docstring for what flows in and out."""
from __future__ import annotations

import datetime
import decimal
import functools
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from ...errors import OncologicError, PatientError
from ...model.kb import CheckedKB
from ...resources import default_kb_dir
from ..reading import parse_json, parse_yaml
from .detect import is_fhir
from .hgvs import ProteinChange, protein_change

MAPPING_FILE = "fhir.yaml"
_PATTERNS = ("observation", "coded", "status_date", "variants", "medications", "adverse_events")
_OBSERVATION_STATUSES = {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                         "entered-in-error", "unknown"}  # FHIR R4 ObservationStatus (required binding)
_SKIPPED_STATUS = {"entered-in-error", "cancelled", "preliminary", "registered"}


# ---- the mapping -----------------------------------------------------------------------------

def mapping_path(kb: CheckedKB) -> Path:
    """``fhir.yaml`` in the folder holding the knowledge base's rule files (their common
    folder), else the shipped one."""
    if kb.files:
        try:
            root = Path(os.path.commonpath([os.path.abspath(os.path.dirname(f)) for f in kb.files]))
        except ValueError:
            root = None
        if root is not None:
            for folder in (root, *root.parents[:1]):
                if (folder / MAPPING_FILE).is_file():
                    return folder / MAPPING_FILE
    return default_kb_dir() / MAPPING_FILE


@functools.lru_cache(maxsize=8)
def _load_mapping(path: str) -> dict:
    where = path
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise PatientError(where, f"the FHIR mapping cannot be read: {err.strerror or err}") from None
    data = parse_yaml(text, where)
    if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
        raise PatientError(where, "the FHIR mapping must hold an 'attributes' mapping")
    for name, spec in data["attributes"].items():
        if not isinstance(spec, dict) or spec.get("pattern") not in _PATTERNS:
            raise PatientError(where, f"attribute '{name}': 'pattern' must be one of {', '.join(_PATTERNS)}")
        if not isinstance(spec.get("resources"), list) or not spec["resources"]:
            raise PatientError(where, f"attribute '{name}': 'resources' must list resource types")
    return data


def mapping(kb: CheckedKB) -> dict:
    data = _load_mapping(str(mapping_path(kb)))
    unknown = sorted(set(data["attributes"]) - set(kb.attributes))
    if unknown:
        raise PatientError(str(mapping_path(kb)), f"maps attributes the knowledge base does not declare: {', '.join(unknown)}")
    return data


def prefetch_templates(kb: CheckedKB) -> dict[str, str]:
    """CDS Hooks prefetch templates for the resource types the mapping reads (plus the Patient):
    key = the resource type in lower case with an ``s``, value = the FHIR search."""
    types = sorted({t for spec in mapping(kb)["attributes"].values() for t in spec["resources"]})
    out = {"patient": "Patient/{{context.patientId}}"}
    for t in types:
        out[t[0].lower() + t[1:] + "s"] = f"{t}?patient={{{{context.patientId}}}}"
    return out


# ---- FHIRPath and validation ------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _compiled(path: str):
    from fhirpathpy import compile as fp_compile
    from fhirpathpy.models import models
    return fp_compile(path, models["r4"])


def _fp(resource: dict, path: str) -> list:
    try:
        return list(_compiled(path)(resource))
    except Exception as err:  # a FHIRPath error in the mapping or an odd resource: name both
        raise PatientError(_ref(resource), f"FHIRPath '{path}' cannot be evaluated: {err}") from None


def _ref(resource: dict) -> str:
    return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"


def _validate(resource: Any, source: str) -> None:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise PatientError(source, "an entry without a resource (a JSON object with a resourceType)")
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError
    kind = resource["resourceType"]
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError, AttributeError, ImportError):
        raise PatientError(source, f"{_ref(resource)}: '{kind}' is not a FHIR R4 resource type") from None
    status = resource.get("status")
    if kind == "Observation" and status is not None and status not in _OBSERVATION_STATUSES:
        raise PatientError(source, f"{_ref(resource)}: invalid Observation: status: {status!r} is not one of "
                                   f"{', '.join(sorted(_OBSERVATION_STATUSES))}")
    try:
        model.model_validate(resource)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "__root__")
        raise PatientError(source, f"{_ref(resource)}: invalid {kind}: {where + ': ' if where else ''}{first.get('msg')}") from None


# ---- reading -----------------------------------------------------------------------------------

def read_bundle(bundle: dict, kb: CheckedKB, as_of: datetime.date | None = None,
                source: str = "<bundle>") -> tuple[dict, dict[str, list[dict]]]:
    """A Bundle (collection or searchset; a single non-Bundle resource is read as a bundle of
    one) → ``(record, provenance)``."""
    if not is_fhir(bundle):
        raise PatientError(source, "not a FHIR resource (no resourceType)")
    if bundle["resourceType"] != "Bundle":
        return read_resources([bundle], kb, as_of, source)
    if bundle.get("type") not in ("collection", "searchset", "transaction", "batch", "document"):
        raise PatientError(source, f"Bundle/{bundle.get('id', '?')}: a bundle of type '{bundle.get('type')}' "
                                   "holds no patient data to read (collection or searchset)")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise PatientError(source, f"Bundle/{bundle.get('id', '?')}: 'entry' must be a list")
    _complete(bundle, entries, source)
    resources, full_urls = [], {}
    for number, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise PatientError(source, f"Bundle/{bundle.get('id', '?')}: entry {number + 1} holds no resource")
        if (entry.get("search") or {}).get("mode") == "outcome":
            continue  # an OperationOutcome a searchset carries
        resources.append(entry["resource"])
        if isinstance(entry.get("fullUrl"), str):
            full_urls[entry["fullUrl"]] = entry["resource"]
    return read_resources(resources, kb, as_of, source, full_urls)


def _complete(bundle: dict, entries: list, source: str) -> None:
    """A searchset must hold the whole search: a page of it (a ``next`` link, a ``total`` above
    the matches it holds) or one carrying an error OperationOutcome would read a partial record
    as the whole one (an older value as the latest): exit 2 saying so."""
    if bundle.get("type") != "searchset":
        return
    name = f"Bundle/{bundle.get('id', '?')}"
    if any(isinstance(link, dict) and link.get("relation") == "next" for link in bundle.get("link") or []):
        raise PatientError(source, f"{name}: one page of a search (it has a 'next' link): fetch every page into one "
                                   "Bundle; a partial record would be read as the whole one")
    matches = sum(1 for e in entries if isinstance(e, dict) and (e.get("search") or {}).get("mode", "match") == "match")
    if isinstance(bundle.get("total"), int) and bundle["total"] > matches:
        raise PatientError(source, f"{name}: holds {matches} of the search's {bundle['total']} matches: fetch them all; "
                                   "a partial record would be read as the whole one")
    for e in entries:
        r = e.get("resource") if isinstance(e, dict) else None
        if isinstance(r, dict) and r.get("resourceType") == "OperationOutcome":
            bad = [i for i in r.get("issue") or [] if isinstance(i, dict) and i.get("severity") in ("error", "fatal")]
            if bad:
                shown = bad[0].get("diagnostics") or (bad[0].get("details") or {}).get("text") or bad[0].get("code")
                raise PatientError(source, f"{name}: the search reported an error ({_ref(r)}: {shown}): its results "
                                           "may be incomplete")


def read_resources(resources: list, kb: CheckedKB, as_of: datetime.date | None = None,
                   source: str = "<resources>", full_urls: dict[str, dict] | None = None
                   ) -> tuple[dict, dict[str, list[dict]]]:
    """Resources of one patient (a CDS Hooks prefetch, flattened) → ``(record, provenance)``;
    ``full_urls`` (a Bundle's entries by fullUrl) resolve ``urn:uuid:`` references."""
    as_of = as_of or datetime.date.today()
    try:
        import fhir.resources  # noqa: F401
        import fhirpathpy  # noqa: F401
    except ImportError:
        raise OncologicError("reading FHIR records needs the fhir extra: pip install 'oncologic[fhir]'") from None
    for resource in resources:
        _validate(resource, source)
    return _Reader(kb, resources, as_of, source, full_urls or {}).read()


def read_bulk_folder(path: str | os.PathLike, kb: CheckedKB, as_of: datetime.date | None = None
                     ) -> Iterator[tuple[str, None, Any]]:
    """An NDJSON bulk export (one ``TYPE.ndjson`` file per resource type): one
    ``(where, None, (record, provenance) or PatientError)`` per patient, those with a Patient
    resource first, in their order; a line that cannot be read or whose patient cannot be told
    is a PatientError in its place."""
    folder = Path(path)
    files = sorted(folder.glob("*.ndjson"))
    if not files:
        yield str(folder), None, PatientError(str(folder), "holds no .ndjson file (an NDJSON bulk export)")
        return

    def lines():
        for file in files:
            with open(file, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            yield f"{file}:{number}", parse_json(line, f"{file}:{number}")
                        except PatientError as err:
                            yield f"{file}:{number}", err
    yield from _per_patient(lines(), kb, as_of, str(folder))


def read_bundle_cohort(bundle: dict, kb: CheckedKB, as_of: datetime.date | None = None, source: str = "<bundle>"
                       ) -> Iterator[tuple[str, None, Any]]:
    """A Bundle holding several patients' resources read as a cohort, as :func:`read_bulk_folder`
    reads an export (a bundle of one patient gives one record)."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)] if isinstance(bundle.get("entry"), list) else []
    full_urls = {e["fullUrl"]: e.get("resource") for e in entries if isinstance(e.get("fullUrl"), str)}
    yield from _per_patient(((f"{source} entry {n}", e.get("resource")) for n, e in enumerate(entries, 1)
                             if (e.get("search") or {}).get("mode") != "outcome"), kb, as_of, source, full_urls)


def _per_patient(items, kb: CheckedKB, as_of: datetime.date | None, source: str,
                 full_urls: dict | None = None) -> Iterator[tuple[str, None, Any]]:
    """``(where, resource or PatientError)`` → one ``(where, None, (record, provenance) or
    PatientError)`` per patient; resources of no patient (a Medication) are shared by all."""
    patients: dict[str, list[dict]] = {}
    order: list[str] = []
    loose = []
    for where, resource in items:
        if isinstance(resource, PatientError):
            yield where, None, resource
            continue
        if not is_fhir(resource):
            yield where, None, PatientError(where, "not a FHIR resource (no resourceType)")
            continue
        owner = _owner(resource, full_urls)
        if not _bound(resource) and resource.get("resourceType") != "Patient":
            loose.append(resource)  # a Medication, ...: shared by every patient
            continue
        if owner is None or not owner.startswith("Patient/"):
            yield where, None, PatientError(where, (
                f"{_ref(resource)}: its patient cannot be told ({'no subject' if owner is None else repr(owner)}): "
                "skipped, never given to every patient"))
            continue
        if owner not in patients:
            patients[owner] = []
            order.append(owner)
        patients[owner].append(resource)
    first = [o for o in order if any(r.get("resourceType") == "Patient" for r in patients[o])]
    for owner in first + [o for o in order if o not in first]:  # those with a Patient resource first
        where = f"{source}/{owner}"
        try:
            record, provenance = read_resources(patients[owner] + loose, kb, as_of, where, full_urls)
            yield where, None, (dict(record), provenance)
        except PatientError as err:
            yield where, None, err


_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
# resource types that belong to a patient (the mapping reads them): never shared, never guessed
_PATIENT_BOUND = {"Observation", "Condition", "MedicationStatement", "MedicationRequest",
                  "MedicationAdministration", "AdverseEvent", "List", "Procedure", "DiagnosticReport"}


def _owner(resource: dict, full_urls: dict | None = None) -> str | None:
    """``Patient/ID`` a resource belongs to (a relative, absolute or ``urn:uuid:`` reference
    ending in Patient/ID); ``None`` when it names no patient; the reference itself when it
    cannot be resolved to one."""
    if resource.get("resourceType") == "Patient":
        return f"Patient/{resource.get('id')}"
    for key in ("subject", "patient"):
        ref = (resource.get(key) or {}).get("reference") if isinstance(resource.get(key), dict) else None
        if not isinstance(ref, str):
            continue
        target = (full_urls or {}).get(ref)
        if isinstance(target, dict) and target.get("resourceType") == "Patient":
            return f"Patient/{target.get('id')}"
        match = _PATIENT_REF.search(ref)
        return f"Patient/{match.group(1)}" if match else ref
    return None


def _bound(resource: dict) -> bool:
    return resource.get("resourceType") in _PATIENT_BOUND


def _key(date: str) -> str:
    """A FHIR date or dateTime as what orders them: a dateTime with its time zone as the UTC
    instant (``T09:00+08:00`` is before ``T02:00Z``), a date as written."""
    if "T" not in date:
        return date
    try:
        moment = datetime.datetime.fromisoformat(date)
    except ValueError:
        return date
    if moment.tzinfo is None:
        return date
    return moment.astimezone(datetime.timezone.utc).isoformat()


def _shown_fhir(value: Any) -> str:
    if isinstance(value, dict):
        return "a Quantity " + json.dumps(value, default=str) if "value" in value and "coding" not in value \
            else "a CodeableConcept " + json.dumps(value, default=str)
    return f"{type(value).__name__} {json.dumps(value, default=str)}"


def _plain_number(number: decimal.Decimal) -> str:
    text = format(number.normalize(), "f")
    return text


def _protein_matches(change: ProteinChange, rule: dict) -> bool:
    """One parsed HGVS p. change against a value's `protein` rule (facts/fhir.yaml)."""
    if rule.get("any"):
        return change.kind != "syn"
    if "exact" in rule:
        return change.kind == "sub" and change.short in {str(x) for x in rule["exact"]}
    low, high = rule.get("codons") or (0, 10 ** 9)
    if not low <= change.start <= change.end <= high:
        return False
    return (rule.get("net") == "loss" and change.kind in ("del", "delins") and change.net < 0) or \
           (rule.get("net") == "gain" and change.kind in ("ins", "dup", "delins") and change.net > 0)


def shown_origin(origin: dict) -> str:
    """``Observation/ecog-1 (LOINC 89247-1, 2026-03-01)``: one origin as text; a ``note`` (why a
    value is unknown, what was not tested, how it was matched) follows it."""
    inside = ", ".join(x for x in (f"{origin.get('system_name', '')} {origin.get('code', '')}".strip(),
                                   origin.get("date") or "") if x)
    shown = f"{origin['resource']} ({inside})" if inside else origin["resource"]
    if origin.get("note"):
        shown = origin["note"] if shown == "-" else f"{shown}: {origin['note']}"
    if origin.get("implied_by"):
        shown += f", implied by {origin['implied_by']}"
    return shown


_NOT_A_DIAGNOSIS = {"refuted", "entered-in-error"}
_RESOLVED = {"inactive", "remission", "resolved"}


class _Unknown:
    """The latest observation says the value is not known exactly (a comparator): unknown."""


class _Reader:
    def __init__(self, kb: CheckedKB, resources: list[dict], as_of: datetime.date, source: str,
                 full_urls: dict[str, dict]):
        self.kb, self.as_of, self.source = kb, as_of.isoformat(), source
        self.map = mapping(kb)
        self.resources = [r for r in resources if r.get("status") not in _SKIPPED_STATUS]
        self.full_urls = full_urls
        self.by_id = {**full_urls, **{_ref(r): r for r in resources}}
        self.names = {uri: name for name, uri in kb.systems.items()}
        self.record: dict[str, Any] = {}
        self.provenance: dict[str, list[dict]] = {}
        self.claimed: dict[str, bool] = {}  # resource -> used by some attribute
        self._claimed_codes: dict[str, list[dict]] = {}

    def fail(self, message: str):
        raise PatientError(self.source, message)

    def read(self) -> tuple[dict, dict]:
        self.record["id"] = self._patient_id()
        specs = self.map["attributes"]
        for name, spec in specs.items():
            getattr(self, "_" + spec["pattern"])(name, spec)
        for name, spec in specs.items():
            for other, value in (spec.get("implied_by") or {}).items():
                if other not in self.record or self.record.get(name) == value:
                    continue
                if name in self.record:  # e.g. an HCC Condition and a lung adenocarcinoma one
                    mine, theirs = self.provenance.get(name, []), self.provenance.get(other, [])
                    if not (all(o.get("note", "").startswith("clinical status") for o in mine)
                            and not any(o.get("note", "").startswith("clinical status") for o in theirs)):
                        self.fail(f"conflicting {name}: {', '.join(o['resource'] for o in mine)} says "
                                  f"{self.record[name]} and {', '.join(o['resource'] for o in theirs)} says {other} "
                                  f"{self.record[other]} ({name} {value}) (two primary cancers? mark the one not to "
                                  "treat resolved, or correct the record)")
                self.record[name] = value  # (a resolved primary yields to the current one)
                self.provenance[name] = [dict(o, implied_by=other) for o in self.provenance.get(other, [])]
        for ref, used in self.claimed.items():
            if not used:
                codes = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in self._claimed_codes.get(ref, [])) or "none"
                self.fail(f"{ref}: no code of it is declared in the knowledge base (codes: {codes}); "
                          "declare it with a `code` clause or correct the resource")
        for name, spec in specs.items():
            if spec["pattern"] == "coded" and name not in self.record and self.kb.attributes[name].required:
                skipped = self.__dict__.get("skipped", {})
                reasons = [x for n_ in [name, *(spec.get("implied_by") or {})] for x in skipped.get(n_, [])]
                told = {x.split(" ", 1)[0] for x in reasons if " gives no value of " not in x}
                reasons = list(dict.fromkeys(x for x in reasons if x.split(" ", 1)[0] not in told or " gives no value of " not in x))
                self.fail(f"no primary cancer Condition giving '{name}' was found (one with the mCODE primary "
                          f"cancer profile or a declared code, on or before {self.as_of}): "
                          + ("; ".join(reasons) if reasons else f"the record holds no {' or '.join(spec['resources'])}"))
        self._check_values()
        return self.record, self.provenance

    def _check_values(self) -> None:
        """Each value as a record's attribute, an error naming the resource and element it came
        from (``Observation/ecog: Observation.value: attribute 'ecog': 7 is out of range ...``)."""
        from ..patient import Validator
        validator = Validator(self.kb, self.source)
        for name, value in self.record.items():
            attr = self.kb.attributes.get(name)
            if attr is None:
                continue
            try:
                validator.value(value, attr.type, name)
            except PatientError as err:
                message = str(err).split(f"attribute '{name}': ", 1)[-1]
                origins = self.provenance.get(name) or []
                index = re.match(r"\[(\d+)\]", message)
                if index and int(index.group(1)) < len(origins):
                    origins = [origins[int(index.group(1))]]
                shown = "; ".join(f"{o['resource']}: {o.get('element', '')}".rstrip(": ") for o in origins[:3]) or "?"
                raise PatientError(self.source, f"{shown}: attribute '{name}': {message}") from None

    def _patient_id(self) -> str:
        owners = [(r, _owner(r, self.full_urls)) for r in self.resources if _bound(r) or r.get("resourceType") == "Patient"]
        patients = sorted({o for _, o in owners if o and o.startswith("Patient/")})
        if len(patients) > 1:
            own = next((o for r, o in owners if r.get("resourceType") == "Patient"), None)
            strays = [f"{_ref(r)} names {o}" for r, o in owners if o in patients and o != own]
            named = "; ".join(strays[:3]) + ("; ..." if len(strays) > 3 else "")
            self.fail(f"holds the resources of {len(patients)} patients ({', '.join(patients[:3])}"
                      f"{', ...' if len(patients) > 3 else ''}): one bundle is one patient's record "
                      f"(a cohort: an NDJSON bulk export folder); {named}")
        for r, owner in owners:
            if not (owner or "").startswith("Patient/"):
                self.fail(f"{_ref(r)}: {'names no patient (no subject)' if owner is None else f'its patient {owner!r} is not a Patient of this bundle'}: "
                          "whose record is it? (a resource is never given to a patient it does not name)")
        if not patients:
            self.fail("no Patient resource and no resource naming its patient: whose record is it?")
        return patients[0].split("/", 1)[1]

    # -- helpers --
    def _of(self, spec: dict) -> list[dict]:
        kinds = set(spec["resources"])
        return [r for r in self.resources if r.get("resourceType") in kinds]

    def _uri(self, pair) -> tuple[str, str]:
        system, code = pair
        return self.kb.systems.get(system, system), str(code)

    def _date(self, resource: dict, path: str) -> str:
        for value in _fp(resource, path):
            if isinstance(value, dict):
                value = value.get("start") or value.get("end")
            if value:
                return str(value)
        return ""

    def _after(self, date: str) -> bool:
        """Whether a FHIR date may fall after the as-of day: a partial date (``2026-04``) by its
        last possible day; a dateTime by the day it was written in (its own time zone)."""
        if not date:
            return False
        day = date[:10]
        if len(day) == 7:  # YYYY-MM
            year, month = int(day[:4]), int(day[5:7])
            day = (datetime.date(year + month // 12, month % 12 + 1, 1) - datetime.timedelta(days=1)).isoformat()
        elif len(day) == 4:  # YYYY
            day = f"{day}-12-31"
        return day > self.as_of

    def _origin(self, resource: dict, element: str, coding: tuple[str, str] | None, date: str) -> dict:
        out = {"resource": _ref(resource), "element": element, "date": date[:10] or None}
        if coding:
            out.update(system=coding[0], code=coding[1], system_name=self.names.get(coding[0], coding[0]).upper())
        return out

    @staticmethod
    def _codings(values) -> list[tuple[str, str]]:
        return [(c.get("system", ""), str(c.get("code", ""))) for c in values if isinstance(c, dict) and c.get("code")]

    def _latest(self, name: str, found: list[tuple[str, Any, dict]], largest: bool = False) -> None:
        """Of (date, value, origin): the most recent at or before as-of; two different values at
        that time are a conflict (``largest``: the largest of them counts)."""
        found = [f for f in found if not self._after(f[0])]
        if not found:
            return
        top = max((f[0] for f in found), key=_key)
        latest = [f for f in found if _key(f[0]) == _key(top)]
        unknown = [f[2] for f in latest if isinstance(f[1], _Unknown)]
        if unknown:  # not known exactly (whatever else says the same time): unknown, the reason kept
            self.provenance[name] = unknown
            return
        if largest and len(latest) > 1:  # several lesions measured that day: the largest one
            from ..patient import Validator
            validator, attr = Validator(self.kb, self.source), self.kb.attributes[name]
            def size(f):
                try:
                    return validator.value(f[1], attr.type, name)
                except PatientError as err:
                    self.fail(f"{f[2]['resource']}: {f[2].get('element')}: {str(err).split(': ', 1)[-1]}")
            best = max(latest, key=size)
            self.record[name] = best[1]
            self.provenance[name] = [dict(best[2], note=f"the largest of {len(latest)} measured at that time")]
            return
        for other in latest[1:]:
            if json.dumps(other[1], sort_keys=True) != json.dumps(latest[0][1], sort_keys=True):
                self.fail(f"conflicting {name}: {latest[0][2]['resource']} says {latest[0][1]!r} and "
                          f"{other[2]['resource']} says {other[1]!r}, both at {top or 'no date'}")
        self.record[name] = latest[0][1]
        self.provenance[name] = [f[2] for f in latest]

    def _selected(self, name: str, spec: dict) -> list[tuple[dict, tuple[str, str]]]:
        """Resources of the spec's types coded with one of the attribute's codes."""
        attr = self.kb.attributes[name]
        codes = {self._uri((c.system, c.code)) for c in attr.codes}
        out = []
        for r in self._of(spec):
            hit = next((c for c in self._codings(_fp(r, "code.coding")) if c in codes), None)
            if hit:
                out.append((r, hit))
        return out

    def _value_of(self, name: str, values: list, resource: dict, element: str) -> Any:
        """A FHIR value converted for an attribute of ``name``'s type (the Validator checks it)."""
        attr = self.kb.attributes[name]
        kind = attr.type.kind
        if not values:
            self.fail(f"{_ref(resource)}: {element} has no value for {name}")
        value = values[0]
        if kind in ("enum", "set"):
            codings = self._codings(values) or self._codings(value.get("coding", []) if isinstance(value, dict) else [])
            table = {self._uri((c.system, c.code)): v for v, c in attr.value_codes}
            for coding in codings:
                if coding in table:
                    return table[coding]
            shown = ", ".join(f"{s}|{c}" for s, c in codings) or json.dumps(value)
            self.fail(f"{_ref(resource)}: {element} {shown} is no declared code of a value of {name} "
                      f"({', '.join(attr.type.values)})")
        where = f"{_ref(resource)}: {element}"
        quantity = isinstance(value, dict) and "coding" not in value and "value" in value
        if isinstance(value, dict) and not quantity and kind == "bool":
            answers = {self._uri(pair): answer for answer, pairs in (self.map.get("booleans") or {}).items() for pair in pairs}
            codings = self._codings(value.get("coding") or [])
            hit = next((answers[c] for c in codings if c in answers), None)
            if hit is not None:
                return hit == "true"
        if kind == "bool" and not isinstance(value, bool) or kind == "date" and not isinstance(value, str) \
                or kind in ("int", "number") and not (quantity or isinstance(value, int) and not isinstance(value, bool)) \
                or kind in ("percent", "length", "duration") and not quantity:
            wanted = {"bool": "a boolean (valueBoolean, or a declared Yes/No code)", "date": "a date (valueDateTime)",
                      "int": "a whole number (valueInteger)", "number": "a number (valueInteger or valueQuantity)"
                      }.get(kind, "a valueQuantity with its unit")
            self.fail(f"{where}: {name} needs {wanted}, not {_shown_fhir(value)}")
        if quantity:
            number, unit = value.get("value"), value.get("code") or value.get("unit") or ""
            if not isinstance(number, (int, float, decimal.Decimal)) or isinstance(number, bool):
                self.fail(f"{where}: {name}: a Quantity without a number ({_shown_fhir(value)})")
            number = decimal.Decimal(str(number))
            if kind == "int":
                if number != number.to_integral_value() or unit not in ("", "1", "{score}"):
                    self.fail(f"{where}: {name} needs a whole number, not {_shown_fhir(value)}")
                return int(number)
            if kind == "number" or not unit:
                return int(number) if number == number.to_integral_value() else float(number)
            if kind == "percent" and unit == "1":  # UCUM "1": a fraction, 0.5 = 50 %
                return f"{_plain_number(number * 100)} %"
            return f"{_plain_number(number)} {unit}"
        if kind == "date":
            return str(value)[:10]
        return value

    # -- the patterns --
    def _observation(self, name: str, spec: dict) -> None:
        found = []
        value_path, date_path = spec.get("value", "value"), spec.get("date", "effective")
        for r, coding in self._selected(name, spec):
            date = self._date(r, date_path)
            if self._after(date):
                continue
            values = _fp(r, value_path)
            origin = self._origin(r, f"{r['resourceType']}.{value_path}", coding, date)
            if not values and isinstance(r.get("dataAbsentReason"), dict):  # measured, no value: unknown
                why = next((c.get("display") or c.get("code") for c in r["dataAbsentReason"].get("coding") or []
                            if isinstance(c, dict)), None) or r["dataAbsentReason"].get("text") or "no reason given"
                found.append((date, _Unknown(), dict(origin, note=f"{name} unknown: no value (dataAbsentReason: {why})")))
                continue
            comparator = next((v["comparator"] for v in values if isinstance(v, dict) and v.get("comparator")), None)
            if comparator:  # "< 50": not an exact value; the attribute is unknown
                shown = f"{comparator} {values[0].get('value')}{values[0].get('unit') or values[0].get('code') or ''}"
                found.append((date, _Unknown(), dict(origin, note=f"{name} unknown: the value is '{shown}', not an exact value")))
                continue
            value = self._value_of(name, values, r, f"{r['resourceType']}.{value_path}")
            found.append((date, value, origin))
        self._latest(name, found, largest=spec.get("same_time") == "largest")

    def _status_date(self, name: str, spec: dict) -> None:
        when = self._uri(spec["when"])
        found = []
        for r, coding in self._selected(name, spec):
            if when in self._codings(_fp(r, "value.coding")):
                date = self._date(r, spec.get("date", "effective"))
                if date:
                    found.append((date, date[:10], self._origin(r, f"{r['resourceType']}.{spec.get('date', 'effective')}", when, date)))
        found = [f for f in found if not self._after(f[0])]
        if found:
            top = max(found, key=lambda f: _key(f[0]))
            self.record[name] = top[1]
            self.provenance[name] = [top[2]]

    def _coded(self, name: str, spec: dict) -> None:
        """Conditions (claimed by the profile, or coded with a declared value of ``name``): each
        one's value from its most specific element (a `generic` value yields to a specific one; two
        specific ones differing is a conflict); refuted or entered-in-error ones ignored; resolved
        ones only when no current one gives a value; two current ones giving different values (two
        primaries) is an error naming both."""
        attr = self.kb.attributes[name]
        table = {self._uri((c.system, c.code)): v for v, c in attr.value_codes}
        paths = spec["value"] if isinstance(spec["value"], list) else [spec["value"]]
        generic = set(spec.get("generic") or [])
        found, skipped = [], self.__dict__.setdefault("skipped", {}).setdefault(name, [])
        for r in self._of(spec):
            ref = _ref(r)
            verification = {c for _, c in self._codings(((r.get("verificationStatus") or {}).get("coding")) or [])}
            if verification & _NOT_A_DIAGNOSIS:
                skipped.append(f"{ref} is {'/'.join(sorted(verification & _NOT_A_DIAGNOSIS))}")
                continue
            profiled = not spec.get("claim") or any(v is True for v in _fp(r, spec["claim"]))
            by_element = [(path, hit) for path in paths for hit in self._codings(_fp(r, path)) if hit in table]
            if profiled:
                self.claimed.setdefault(ref, False)
                self._claimed_codes.setdefault(ref, [])
                for p in paths:
                    self._claimed_codes[ref] += [x for x in ({"system": s_, "code": c} for s_, c in self._codings(_fp(r, p)))
                                                 if x not in self._claimed_codes[ref]]
            if not by_element:
                if not profiled:
                    codes = ", ".join(f"{s_}|{c}" for s_, c in self._codings(_fp(r, paths[0]))) or "no code"
                    skipped.append(f"{ref} has neither the profile nor a declared code ({codes})")
                else:
                    skipped.append(f"{ref} gives no value of {name}")
                continue
            self.claimed[ref] = True
            date = self._date(r, spec.get("date", "onset"))
            if self._after(date):
                skipped.append(f"{ref} begins {date[:10]}, after the as-of date {self.as_of}")
                continue
            values = {table[hit] for _, hit in by_element}
            specific = values - generic or values
            if len(specific) > 1:
                shown = "; ".join(f"{p.split('.where')[0]} {s_}|{c} = {table[(s_, c)]}" for p, (s_, c) in by_element)
                self.fail(f"{ref}: conflicting {name} in one Condition: {shown}")
            value = next(iter(specific))
            path, hit = next((p, h) for p, h in by_element if table[h] == value)
            status = {c for _, c in self._codings(((r.get("clinicalStatus") or {}).get("coding")) or [])}
            origin = self._origin(r, f"{r['resourceType']}.{path.split('.where')[0]}", hit, date)
            if status & _RESOLVED:
                origin["note"] = f"clinical status {'/'.join(sorted(status))}"
            found.append((bool(status & _RESOLVED), value, origin))
        current = [f for f in found if not f[0]] or found
        values = {v for _, v, _ in current}
        values = values - generic or values
        if len(values) > 1:
            shown = " and ".join(f"{o['resource']} says {v}" for _, v, o in current if v in values)
            self.fail(f"conflicting {name}: {shown} (two primary cancers? one Condition each is read; "
                      "mark the one not to treat resolved, or correct the record)")
        if values:
            value = next(iter(values))
            self.record[name] = value
            self.provenance[name] = [o for _, v, o in current if v == value]

    def _variants(self, name: str, spec: dict) -> None:
        """Genomic variants combined per gene (its latest results); a value only when its gene and
        its exact alteration match; see facts/fhir.yaml."""
        select, gene_code = self._uri(spec["select"]), self._uri(spec["gene"])
        protein_codes = {self._uri(c) for c in spec.get("protein") or []}
        present, absent = self._uri(spec["present"]), self._uri(spec["absent"])
        kinds = {kind: {self._uri(c) for c in spec.get(kind) or []} for kind in ("fusion", "copy_gain", "exon_loss")}
        rules = []
        for value, rule in (spec.get("values") or {}).items():
            genes = rule["gene"] if isinstance(rule["gene"], list) else [rule["gene"]]
            rules.append((value, set(genes), rule))
        needed = set().union(*(g for _, g, _ in rules)) if rules else set()
        per_gene: dict[str, list[tuple[str, str, Any, dict]]] = {}  # gene -> (date, verdict, values, origin)
        unreadable: list[dict] = []
        for r in self._of(spec):
            if select not in self._codings(_fp(r, "code.coding")):
                continue
            date = self._date(r, spec.get("date", "effective"))
            if self._after(date):
                continue
            origin = self._origin(r, "Observation.component", gene_code, date)
            genes, proteins, coded = set(), [], set()
            for comp in r.get("component") or []:
                codes = self._codings((comp.get("code") or {}).get("coding") or [])
                concept = comp.get("valueCodeableConcept") or {}
                values = self._codings(concept.get("coding") or [])
                coded |= set(values)
                if gene_code in codes:
                    genes |= {c for _, c in values}
                elif protein_codes & set(codes):
                    proteins += [c for _, c in values] or [x for x in (concept.get("text"), comp.get("valueString")) if x]
            verdict = set(self._codings(((r.get("valueCodeableConcept") or {}).get("coding")) or []))
            ours = genes & needed
            if not genes:
                unreadable.append(dict(origin, note=f"{_ref(r)} names no gene studied"))
                continue
            if absent not in verdict and present not in verdict:
                self.fail(f"{_ref(r)}: Observation.value: a variant observation whose value is neither "
                          f"Present ({present[1]}) nor Absent ({absent[1]})")
            specific = proteins or any(kinds[k] & coded for k in kinds)
            if absent in verdict and not specific:  # the gene studied, no variant: gene-wide negative
                for gene in ours:
                    per_gene.setdefault(gene, []).append((date, "absent", set(), origin))
                continue
            changes = [protein_change(p) for p in proteins]
            hits, read = set(), bool(changes) and all(changes)
            for value, value_genes, rule in rules:
                if not genes & value_genes:
                    continue
                if rule.get("kind"):
                    hit = bool(kinds[rule["kind"]] & coded)
                else:
                    hit = read and all(_protein_matches(c, rule.get("protein") or {}) for c in changes)
                if hit:
                    hits.add(value)
            read = read or bool(hits) or any(kinds[k] & coded for k in kinds)
            if absent in verdict:  # one alteration tested negative (T790M absent): says nothing of the others
                for gene in ours:
                    per_gene.setdefault(gene, []).append((date, "absent-change", hits, origin))
                continue
            for gene in ours:
                if read:
                    per_gene.setdefault(gene, []).append((date, "present", hits, origin))
                else:
                    shown = ", ".join(proteins) or "no HGVS p. change and no structural-variant code"
                    per_gene.setdefault(gene, []).append((date, "unreadable", set(), dict(
                        origin, note=f"the {gene} variant ({shown}) cannot be read as any value of {name}")))
        self._combine_variants(name, needed, per_gene, unreadable)

    def _combine_variants(self, name: str, needed: set, per_gene: dict, unreadable: list) -> None:
        """Per gene: its latest gene-wide negative (Absent, no alteration named) sets it back to
        none; every variant found since counts (a T790M-only test in 2026 keeps the 19del of
        2024), unless a later test of that very alteration was negative."""
        positives, origins, notes, tested = set(), [], [], set()
        for gene in sorted(per_gene):
            results = sorted(per_gene[gene], key=lambda x: _key(x[0]))
            wide = [x for x in results if x[1] == "absent"]
            base = _key(wide[-1][0]) if wide else None
            since = [x for x in results if base is None or _key(x[0]) >= base]
            if wide:
                tested.add(gene)
                origins.append(wide[-1][3])
            for date, verdict, values, origin in since:
                if verdict == "absent":
                    continue
                if base is not None and _key(date) == base and verdict != "absent-change":
                    notes.append({"resource": f"{wide[-1][3]['resource']}, {origin['resource']}", "date": date[:10] or None,
                                  "note": f"{gene}: Present and Absent at the same time"})
                    continue
                if verdict == "unreadable":
                    notes.append(origin)
                    continue
                origins.append(origin)
                if verdict == "present":
                    tested.add(gene)
                    later_negative = {v for d, k, vs, _ in since if k == "absent-change" and _key(d) > _key(date) for v in vs}
                    positives |= values - later_negative
        untested = sorted(needed - tested)
        lacking = f"no result for {', '.join(untested)}" if untested else ""
        if notes or unreadable or (not positives and untested):
            reasons = notes + unreadable + ([{"resource": "-", "note": f"{name} unknown: {lacking}"}] if untested and not positives else [])
            if per_gene or unreadable:
                self.provenance[name] = origins + reasons
            return
        self.record[name] = sorted(positives)
        self.provenance[name] = origins + ([{"resource": "-", "note": lacking}] if lacking else [])

    def _medications(self, name: str, spec: dict) -> None:
        statuses = {state: set(names) for state, names in (spec.get("statuses") or {}).items()}
        intents = set(spec.get("intents") or [])
        items, origins = set(), []
        for r in self._of(spec):
            if r["resourceType"] == "List" or (r["resourceType"] == "MedicationRequest" and intents
                                               and r.get("intent") not in intents):
                continue
            date = self._date(r, "effective | authoredOn")
            if self._after(date):
                continue
            end = next((str(p["end"]) for p in _fp(r, "effective") if isinstance(p, dict) and p.get("end")), "")
            state = next((s_ for s_, names in statuses.items() if r.get("status") in names), None)
            if state and end:  # as of the date: ongoing until its end
                state = "current" if self._after(end) else "prior"
            if state != spec.get("state"):
                continue
            for item, coding, note in self._drugs(r):
                if item not in items or not any(o["resource"] == _ref(r) for o in origins):
                    items.add(item)
                    origin = self._origin(r, f"{r['resourceType']}.medication", coding, date)
                    origins.append(dict(origin, note=note) if note else origin)
        if items:
            self.record[name] = sorted(items)
            self.provenance[name] = origins
        else:
            self._none_known(name)

    def _drugs(self, r: dict) -> list[tuple[str, tuple[str, str] | None, str]]:
        """The catalogue drugs a medication resource names: by a declared code of its own, its
        Medication's or that Medication's ingredients'; else by a drug's English name as a whole
        word in their display or text (``gefitinib 250 MG Oral Tablet``): ``(drug, coding, note)``."""
        coded, concepts = self.kb.coded(), self._medication_concepts(r)
        found = []
        for coding in self._codings(c for concept in concepts for c in concept.get("coding") or []):
            owner = coded.get(coding)
            if owner and owner[1] is None and self.kb.items.get(owner[0]) is not None \
                    and self.kb.items[owner[0]].kind == "drug" and owner[0] not in {f[0] for f in found}:
                found.append((owner[0], coding, ""))
        if found:
            return found
        texts = []
        for concept in concepts:
            texts += [concept.get("text")] + [c.get("display") for c in concept.get("coding") or [] if isinstance(c, dict)]
        texts = [t for t in texts if isinstance(t, str) and t]
        for text in dict.fromkeys(texts):
            spans = []
            for drug, pattern in self._drug_names():
                spans += [(m.start(), m.end(), drug) for m in pattern.finditer(text)]
            for start, end, drug in spans:  # a name inside a longer one (paclitaxel in nab-paclitaxel) is that one
                if not any(s <= start and end <= e and (s, e) != (start, end) for s, e, _ in spans) \
                        and drug not in {f[0] for f in found}:
                    found.append((drug, None, f"matched by name in '{text}'"))
        return found

    def _drug_names(self) -> list[tuple[str, "re.Pattern"]]:
        names = self.__dict__.get("_names_rx")
        if names is None:
            from ...lang import nodes as n
            names = self.__dict__["_names_rx"] = [
                (item.name, re.compile(rf"(?<![\w-]){re.escape(label)}(?![\w-])", re.IGNORECASE))
                for item in self.kb.items.values() if item.kind == "drug"
                for label in [n.label_of(item.labels, "en")] if label]
        return names

    def _none_known(self, name: str) -> None:
        """``[]`` when a List coded with the attribute's code, empty, says none (emptyReason
        ``nilknown``) on or before the as-of date."""
        for r, coding in self._selected(name, {"resources": ["List"]}):  # (listed in the spec's resources)
            date = self._date(r, "date")
            reasons = self._codings(((r.get("emptyReason") or {}).get("coding")) or [])
            if not r.get("entry") and any(code == "nilknown" for _, code in reasons) and not self._after(date):
                self.record[name] = []
                self.provenance[name] = [self._origin(r, "List.emptyReason", coding, date)]

    def _adverse_events(self, name: str, spec: dict) -> None:
        """Each AdverseEvent on or before the as-of date: its type by the event's code, its grade
        by ``grade`` (FHIRPath), its cause by the classes of its suspect (none: unknown)."""
        types = {self._uri(pair): kind for kind, pairs in (spec.get("types") or {}).items() for pair in pairs}
        causes = spec.get("causes") or {}
        events = []
        for r in self._of(spec):
            if r["resourceType"] != "AdverseEvent" or r.get("actuality", "actual") != "actual":
                continue
            date = self._date(r, spec.get("date", "date"))
            if self._after(date):
                continue
            codings = self._codings(((r.get("event") or {}).get("coding")) or [])
            hit = next((c for c in codings if c in types), None)
            if hit is None:
                shown = ", ".join(f"{s}|{c}" for s, c in codings) or "none"
                self.fail(f"{_ref(r)}: its event code ({shown}) is none of the adverse-event types of the FHIR mapping "
                          f"(facts/fhir.yaml)")
            grades = _fp(r, spec["grade"])
            grade = grades[0] if grades else None
            if isinstance(grade, dict):
                grade = next((c.get("code") for c in grade.get("coding") or []), None)
            if grade is None or not str(grade).isdigit():
                self.fail(f"{_ref(r)}: no CTCAE grade ({spec['grade']})")
            event = {"type": types[hit], "grade": int(grade), "cause": self._cause(r, causes)}
            events.append((date, event, self._origin(r, "AdverseEvent.event", hit, date)))
        if events:
            events.sort(key=lambda e: e[0])
            self.record[name] = [e for _, e, _ in events]
            self.provenance[name] = [o for _, _, o in events]
        else:
            self._none_known(name)

    def _cause(self, r: dict, causes: dict) -> str:
        coded = self.kb.coded()
        for suspect in r.get("suspectEntity") or []:
            target = self.by_id.get(((suspect.get("instance") or {}).get("reference")) or "")
            if not isinstance(target, dict):
                continue
            items = [drug for drug, _, _ in self._drugs(target)]  # a medication (by code or name)
            items += [owner[0] for owner in map(coded.get, self._codings(((target.get("code") or {}).get("coding")) or []))
                      if owner and owner[1] is None and owner[0] in self.kb.items]  # a procedure
            for item in items:
                kinds = {item, *self.kb.ancestors(item)}
                for cause, classes in causes.items():
                    if kinds & set(classes):
                        return cause
        return "unknown"

    def _medication_concepts(self, r: dict) -> list[dict]:
        """The medication's CodeableConcepts: its own, then its Medication's (contained ``#x``,
        ``Medication/x``, a ``urn:uuid:`` or absolute fullUrl) and that Medication's ingredients'."""
        out = [r["medicationCodeableConcept"]] if isinstance(r.get("medicationCodeableConcept"), dict) else []
        ref = ((r.get("medicationReference") or {}).get("reference")) or ""
        med = None
        if ref.startswith("#"):
            med = next((c for c in r.get("contained") or [] if c.get("id") == ref[1:]), None)
        elif ref:
            med = self.by_id.get(ref) or self.by_id.get("Medication/" + ref.rsplit("/", 1)[-1])
        if isinstance(med, dict):
            out += [med["code"]] if isinstance(med.get("code"), dict) else []
            out += [ing["itemCodeableConcept"] for ing in med.get("ingredient") or []
                    if isinstance(ing, dict) and isinstance(ing.get("itemCodeableConcept"), dict)]
            for ing in med.get("ingredient") or []:  # an ingredient that is itself a Medication
                inner = self.by_id.get(((ing.get("itemReference") or {}).get("reference")) or "") if isinstance(ing, dict) else None
                if isinstance(inner, dict) and isinstance(inner.get("code"), dict):
                    out.append(inner["code"])
        return out
