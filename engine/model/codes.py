"""The stable codes of ``oncologic check`` diagnostics.

Each code names one kind of finding, never changes meaning, and is never reused. An error
(``E``) means the knowledge base cannot be used; a warning (``W``) means it can, but a reviewer
should look — or mark the statement ``# check: allow CODE`` with a comment saying why.

Ranges:
  E0xx  reading and syntax (the file, the parser)          -- lang/parser.py, lang/builder.py
  E1xx  names and declarations                            -- model/checks.py
  E2xx  types, units and values                           -- model/checks.py
  E3xx  rules, sources, grading, cycles, compilation      -- model/checks.py, compile/
  W4xx  logic over the whole knowledge base (a witness patient or a proof)
  W5xx  hygiene: unused names, uncited documents, rules no patient reaches, markers

``CODES[code] = (severity, title)``; the title is what ``docs/check.md`` lists.
"""
from __future__ import annotations

CODES: dict[str, tuple[str, str]] = {
    # -- E0xx reading and syntax ----------------------------------------------------------------
    # -- E1xx names and declarations ------------------------------------------------------------
    # -- E2xx types, units and values -----------------------------------------------------------
    # -- E3xx rules, sources, grading, cycles ---------------------------------------------------
    # -- W4xx logic -----------------------------------------------------------------------------
    # -- W5xx hygiene ---------------------------------------------------------------------------
}


def severity(code: str) -> str:
    """``error`` or ``warning`` for a code of :data:`CODES`; KeyError for an unknown one."""
    return CODES[code][0]
