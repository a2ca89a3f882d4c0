"""FHIR R4 / mCODE records in: resources → a flat CONTRACT §1 record and where each value came from.

In: a Bundle (collection or searchset) as a dict, a plain list of resources (a CDS Hooks
prefetch), or an NDJSON bulk-export folder; the checked knowledge base (its declared codes) and
the mapping ``fhir.yaml`` beside its rule files (which pattern finds each attribute, with which
FHIRPath); the as-of date. Out: ``(record, provenance)``: the record is a plain dict for
:func:`oncologic.records.patient.validate` (so every record error applies), ``provenance`` maps
each attribute to the list of its origins ``{"resource", "element", "system", "code", "date"}``.
Bad FHIR (an invalid resource, an unknown code on a resource the mapping claims, two different
values at the same latest time) raises :class:`~oncologic.errors.PatientError` naming the
resource. Needs the ``fhir`` extra (fhir.resources, fhirpathpy).
"""
from __future__ import annotations

from .reader import (is_fhir, prefetch_templates, read_bulk_folder, read_bundle, read_bundle_cohort,
                     read_resources, shown_origin)

__all__ = ["is_fhir", "prefetch_templates", "read_bulk_folder", "read_bundle", "read_bundle_cohort", "read_resources",
           "shown_origin"]
