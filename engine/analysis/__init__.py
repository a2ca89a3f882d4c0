"""Static analysis of a knowledge base: the compiled KB (its :class:`CheckedKB`) in, warning
diagnostics out — each with a stable W-code, the rules it is about, its place in the rule
files (start and end), and a witness patient or a proof.

    found = analyse(compiled, kb_dir, patients=None)   # a list of Diagnostic, plus .allowed

**Solver.** The conditions are encoded for z3 (:mod:`.encode`): the completion semantics of
:mod:`oncologic.reason.exact` (``known`` flags free, ``is known`` reading them, the ``applies
when`` of attributes written into their tests) for proofs, Kleene's three-valued logic for
witnesses. z3 rather than an enumeration of representative values: the questions are about
several rules at once (a recommendation and a do-not-recommend statement; a rule and every
contraindication), where the representative values multiply, and an unsat core names the
conflicting conditions for free. Witnesses are made minimal (every attribute a finding does
not need is left out, sets and lists hold as few members as it allows) and **every witness is
evaluated by the engine** (:mod:`.confirm`) before its finding is stated; where the engine
disagrees the finding is replaced by W499, which says so. Lists of records are bounded (one
record per distinct ``any ... where`` condition on the list: exact; beyond 64 conditions no
proof is stated about a rule that reads the list).

**Findings** (the table is :mod:`oncologic.model.codes`):

- W401 a rule no patient can satisfy (contradictory tests, a declared range, through concepts),
  or one certain for no patient (``not tfi is known and tfi < 90d``: possible, never certain);
  a rule unreachable only because a concept it uses is, is named in that concept's finding
  (no cascade); the proof is the unsat core, each condition with its place.
- W402 a test the declared domain decides: ``ecog <= 4`` for ``ecog: int 0..4``, an ``in``
  listing every value of an enum, a conjunct (``a or not a``, a concept) true for every patient
  with its data; a test that holds for no patient inside a larger condition (a dead branch).
- W403 a constant outside its attribute's declared range, or beyond 100% for a percentage,
  at the constant (one finding: the message says what it does to the test — ``ecog <= 7`` is
  always true, ``pd_l1_tps >= 150%`` never).
- W404 a date literal outside the years 1900-2100 (a calendar-invalid date is already the
  builder's error).
- W405 the same item recommended and not recommended (``do not recommend``, an item or a
  class of it) for one patient; W406 recommended and contraindicated for one patient; W407 a
  recommended regimen that contraindications remove for every patient its rule applies to.
  Witness records; the engine must say both rules hold, and that the regimen is kept (no
  contraindication removes it; for W406 none but the one reported). One witness per
  recommendation listed: "for the same patient" with one, "each for some patient" with more.
- W408/W409 thresholds within one decision. A decision is the rules of one kind (and
  polarity) whose conjuncts other than their tests of one ordered attribute are the same
  (the same setting, the same concepts, the same other tests, as written): Child-Pugh A, B, C
  are one; second line and third line of a setting are one. W408 is an internal gap — values
  between the rules' tested ranges that none of them accepts, within the declared range
  (``tfi < 90d`` beside ``tfi > 90d`` leaves 90 d); the values below the lowest and above the
  highest are not reported (a decision for part of the patients is normal). W409 is an overlap
  between concepts or settings with different names (``<= 90d`` beside ``>= 90d``); overlaps
  between recommendations are alternatives, and between a recommendation and a statement
  against it W405 says it.
- W410 a grading line that never matches (earlier lines take every evidence level and
  consensus it accepts; the domain is the levels the scheme and its rules name, another level,
  no level, and consensus 0-100%). W411 a recommendation its document's grading grades with no
  line — in particular a ``do not recommend`` whose consensus is at or above the scheme's
  not-recommended threshold (66% under ``do_not_recommend if consensus < 60%``), which the
  checker's error (a stated strength that disagrees with the first matching line) misses.
- W501-W504 unused attributes, items, concepts; documents never cited (:mod:`.hygiene`).
- W505 a rule no patient reaches (certain for none of them), with a record that would. The
  patients are ``patients`` (files, folders, ``.jsonl`` cohorts) or, when not given, the
  bundled examples: ``examples/patients`` beside the knowledge-base folder (``facts/``'s
  parent holds ``examples/`` in a source checkout; an installed package has none, and then
  nothing is reported). The rule tests of issue 14 will add theirs here (``patients``).
  W509 a record that is not valid for the knowledge base.
- W506 a ``# check: allow CODE — reason`` marker that allows nothing; W507 one without a
  reason; W508 one naming no code, an unknown code or an error.

A marker (a comment inside a statement, or on the comment lines directly above it) allows its
codes for the findings located in that statement: they are not returned but counted in
``.allowed``. W499 (the analysis and the engine disagree) cannot be allowed.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import Diagnostic
from .confirm import Engine, compact
from .encode import Encoding
from .hygiene import apply_markers, unused
from .logic import Evidence, Finding, Logic, kind_word
from .source import Sources

__all__ = ["analyse", "Analysis", "compact"]


class Analysis(list):
    """The warnings to show (a list of :class:`Diagnostic`), and ``allowed``: those a marker allows."""

    allowed: list[Diagnostic]


def default_patients(kb_dir) -> list[Path]:
    """The bundled examples: ``examples/patients`` beside the knowledge-base folder."""
    from ..resources import default_kb_dir
    folder = (default_kb_dir() if kb_dir is None else Path(kb_dir)).resolve().parent / "examples" / "patients"
    return [folder] if folder.is_dir() else []


def analyse(compiled, kb_dir: str | os.PathLike | None = None, patients=None) -> Analysis:
    """The warnings of the static analysis of a compiled knowledge base (module docstring).

    ``kb_dir``: its folder as given to ``load_compiled`` (None: the shipped one), to read the
    rule files again (markers, end positions). ``patients``: record files or folders for W505;
    None for the bundled examples."""
    kb = compiled.checked
    sources = Sources(kb, kb_dir)
    engine = Engine(compiled)
    paths = default_patients(kb_dir) if patients is None else list(patients)
    people, problems = engine.read(paths)
    evidence = Evidence(compiled, engine.conclusions(people))
    enc = Encoding(kb)
    logic = Logic(kb, sources, enc, evidence)
    logic.unreachable_rules()
    logic.domain_tests()
    logic.conflicts()
    logic.thresholds()
    logic.gradings()
    diagnostics = unused(kb, sources) + problems
    # the rules no patient reaches, with a record for each that would
    if people:
        where = ", ".join(_shown(p) for p in paths)
        for rule in logic.rules:
            if evidence.rule_held(rule.id) or rule.id in logic.unreachable:
                continue
            wit = logic.witness(enc.kleene(rule.condition)[0], enc.reads(rule.condition))
            logic.add("W505", logic.at_rule(rule),
                      f"no patient of {where} ({len(people)} records) reaches {kind_word(rule)} '{rule.id}'"
                      + ("; the witness would" if wit else ""), rules=(rule.id,), witness=wit,
                      expect=[(rule.id, True)] if wit else [])
    diagnostics += _confirmed(logic.findings, engine)
    diagnostics.sort(key=lambda d: (d.file, d.line, d.column, d.code))
    shown, allowed = apply_markers(diagnostics, sources)
    out = Analysis(sorted(shown, key=lambda d: (d.file, d.line, d.column, d.code)))
    out.allowed = allowed
    return out


def _confirmed(findings: list[Finding], engine: Engine) -> list[Diagnostic]:
    """The findings the engine confirms; a W499 in place of each it does not."""
    cases = [(f, record, expect) for f in findings for record, expect in f.checks]
    patients, refused = [], {}
    for i, (f, record, _) in enumerate(cases):
        try:
            patients.append(engine.kb.patient(dict(record), source=f"<witness of {f.diagnostic.code}>"))
        except Exception as err:  # noqa: BLE001 - a witness the validator refuses is the analysis's bug
            refused[i] = f"the record validator refuses {compact(record)}: {err}"
    evaluations = iter(engine.evaluate(patients))
    problems_of: dict[int, list[str]] = {}
    for i, (f, record, expect) in enumerate(cases):
        found = [refused[i]] if i in refused else engine.verdicts(next(evaluations), expect)
        if found and record is not f.diagnostic.witness:
            found = [f"for {compact(record)}: {p}" for p in found]
        problems_of.setdefault(id(f), []).extend(found)
    out = []
    for f in findings:
        d = f.diagnostic
        problems = problems_of.get(id(f), [])
        if not problems:
            out.append(d)
        else:
            out.append(Diagnostic(d.file, d.line, d.column,
                                  f"internal analysis error: the engine does not confirm a {d.code} finding "
                                  f"({d.message}): {'; '.join(problems)} — please report it",
                                  "warning", "W499", d.end_line, d.end_column, d.rules, d.witness, d.proof, d.related))
    return out


def _shown(path) -> str:
    """A path as a message shows it: relative to the working folder when below it."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel
