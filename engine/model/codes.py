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
    "E001": ("error", "unexpected word or symbol (or end of file): the statement does not parse"),
    "E002": ("error", "unexpected character"),
    "E003": ("error", "a unit written the wrong way (3m, 90 days, 90D, 3 months)"),
    "E004": ("error", "a full-width character where the rule language needs its ASCII twin"),
    "E005": ("error", "a reserved word of the rule language declared as a name"),
    "E006": ("error", "the file is not UTF-8 text"),
    "E007": ("error", "the file cannot be read"),
    "E008": ("error", "a condition nested too deep"),
    "E009": ("error", "a text given twice in one language"),
    "E010": ("error", "a text in languages without its English one"),
    "E011": ("error", "a clause given twice in one statement"),
    # -- E1xx names and declarations ------------------------------------------------------------
    "E101": ("error", "unknown attribute"),
    "E102": ("error", "unknown concept"),
    "E103": ("error", "unknown document"),
    "E104": ("error", "unknown drug, class, procedure, action or group"),
    "E105": ("error", "unknown value of an enum or a set"),
    "E106": ("error", "unknown setting"),
    "E107": ("error", "unknown field of a list of records"),
    "E108": ("error", "unknown code system (a code naming no `system` statement)"),
    "E110": ("error", "a name or value declared twice"),
    "E111": ("error", "a rule id used twice"),
    "E112": ("error", "one name declared as two kinds (concept and setting, concept and attribute)"),
    "E113": ("error", "a name used as the wrong kind (a concept tested as an attribute, a drug as a class)"),
    "E114": ("error", "one code given to two attributes, values or items"),
    # -- E2xx types, units and values -----------------------------------------------------------
    "E201": ("error", "a value that does not fit its attribute's type"),
    "E202": ("error", "a unit that does not fit (missing, of another kind, or on a plain number)"),
    "E203": ("error", "a number that is not whole where a whole number is needed, or has more than 6 decimals"),
    "E204": ("error", "a test that does not fit its attribute's type"),
    "E205": ("error", "a date literal that is not a day on the calendar"),
    "E206": ("error", "a field of a list of records that is not a single value"),
    "E207": ("error", "a derived attribute that is not a duration between two dates"),
    "E208": ("error", "a consensus outside 0-100%"),
    "E209": ("error", "value labels on an attribute without listed values"),
    "E210": ("error", "an empty declared range (its lower bound above its upper bound)"),
    "E211": ("error", "a malformed code (not the form its system's codes take) or system URI"),
    # -- E3xx rules, sources, grading, cycles ---------------------------------------------------
    "E301": ("error", "a rule without a source"),
    "E302": ("error", "a rule without a condition"),
    "E303": ("error", "a recommendation that neither recommends nor does not recommend"),
    "E304": ("error", "a strength that is not in the scheme"),
    "E305": ("error", "a stated strength that differs from its document's grading scheme"),
    "E306": ("error", "a graded recommendation without its evidence or consensus"),
    "E307": ("error", "a grading line that tests something other than evidence and consensus"),
    "E308": ("error", "a contraindication that names nothing to avoid"),
    "E309": ("error", "a contraindication without a reason"),
    "E310": ("error", "a clause that does not belong to this kind of rule"),
    "E311": ("error", "an item named twice in one regimen"),
    "E312": ("error", "concepts defined in terms of themselves (a cycle)"),
    "E313": ("error", "circular class membership"),
    "E314": ("error", "a condition too deep with the concepts it uses written out"),
    "E315": ("error", "an attribute's 'applies when' that tests itself or another gated attribute"),
    "E316": ("error", "a rule that depends on its own negation (not stratifiable)"),
    "E317": ("error", "a grading that cannot grade the recommendations citing its document (a line the lines above it take every case of, or no line)"),
    # -- W4xx logic -----------------------------------------------------------------------------
    # (oncologic.analysis: each a warning with a witness patient, checked by the engine, or a proof)
    "W401": ("warning", "a rule no patient can satisfy (contradictory conditions, through concepts or declared ranges)"),
    "W402": ("warning", "a condition the declared domain decides: always true for a patient with its data, or never true"),
    "W403": ("warning", "a constant outside its attribute's declared range (or beyond 100% for a percentage)"),
    "W404": ("warning", "a date literal outside the plausible years 1900-2100"),
    "W405": ("warning", "the same item recommended and not recommended for one patient"),
    "W406": ("warning", "the same item recommended and contraindicated for one patient"),
    "W407": ("warning", "a recommended regimen that contraindications remove for every patient its rule applies to"),
    "W408": ("warning", "a gap between the thresholds of one decision: values no rule of it accepts"),
    "W409": ("warning", "an overlap of the thresholds of one decision: concepts or settings that hold together"),
    "W410": ("warning", "a grading line that never matches: the lines above it take every case it accepts"),
    "W411": ("warning", "a recommendation no line of its document's grading grades (a do-not-recommend above the not-recommended threshold)"),
    "W499": ("warning", "internal: the engine does not confirm a finding of the analysis (a bug: please report it)"),
    # -- W5xx hygiene ---------------------------------------------------------------------------
    "W501": ("warning", "an attribute no rule reads"),
    "W502": ("warning", "an item no rule names (nor a class or a member of it)"),
    "W503": ("warning", "a concept or setting no rule uses"),
    "W504": ("warning", "a document no rule cites"),
    "W505": ("warning", "a rule no patient of the examples (or of --patients) reaches"),
    "W506": ("warning", "a '# check: allow' marker that allows nothing"),
    "W507": ("warning", "a '# check: allow' marker without a reason"),
    "W508": ("warning", "a '# check: allow' marker naming no code, an unknown code or an error; or a comment meant as a marker but not written as one ('# check allow')"),
    "W509": ("warning", "a patient record the analysis cannot use (not valid for the knowledge base)"),
}


def severity(code: str) -> str:
    """``error`` or ``warning`` for a code of :data:`CODES`; KeyError for an unknown one."""
    return CODES[code][0]
