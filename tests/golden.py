"""The outputs the contract freezes, for every bundled patient: ``recommend`` JSON, and the
``explain`` and ``why-not`` JSON and English text for a good set of goals per patient.

``tests/golden/outputs.json`` holds a digest of each, per patient, taken from the code before
explanations became structured data (issue #9). Fields may be *added* to the JSON (CONTRACT
§4), so the JSON is compared as it was: every object projected onto the fields it had then
(:data:`FIELDS`), in the same order, printed the same way — byte for byte.

    python tests/golden.py --dump DIR    # every output in full, one file per patient, to diff
    python tests/golden.py --write       # take new digests (only for a deliberate change)
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from support import example_files, shipped_kb  # noqa: E402

DIGESTS = HERE / "golden" / "outputs.json"

# The fields of each result object when the digests were taken, in their order.
FIELDS = {
    "Attempt": ('conclusion', 'rule', 'source', 'holds', 'failed', 'missing', 'children', 'removed_by', 'to_hold'),
    "Change": ('attribute', 'action', 'value', 'unit', 'text'),
    "Condition": ('attribute', 'concept', 'op', 'expected', 'actual', 'holds', 'text', 'changes_on'),
    "Conflict": ('id', 'rule', 'reason', 'consensus', 'source'),
    "Contraindicated": ('id', 'items', 'reason', 'rule', 'source', 'recommended_by'),
    "Explanation": ('goal', 'holds', 'proof', 'alternatives', 'removed_by'),
    "Missing": ('attribute', 'needed_for', 'decides'),
    "NotRecommended": ('id', 'items', 'setting', 'evidence', 'consensus', 'source', 'rule', 'reason', 'notes'),
    "Possible": ('id', 'items', 'missing', 'recommendation'),
    "ProofNode": ('conclusion', 'kind', 'rule', 'source', 'conditions', 'children', 'strength', 'evidence',
                  'consensus', 'weakest_link'),
    "Quantity": ('value', 'unit', 'as_written', 'derived_from'),
    "Recommendation": ('id', 'items', 'setting', 'strength', 'evidence', 'consensus', 'grade', 'source', 'sources',
                       'rule', 'notes', 'labels', 'conflicts'),
    "Removal": ('rule', 'reason', 'source', 'proof'),
    "Result": ('patient', 'derived', 'recommendations', 'not_recommended', 'contraindicated', 'missing', 'possible'),
    "RuleRef": ('id', 'file', 'line'),
    "SourceRef": ('document', 'locator', 'title'),
    "WeakestLink": ('evidence', 'evidence_rule', 'consensus', 'consensus_rule'),
    "WhyNot": ('goal', 'holds', 'attempts', 'proof'),
}


def as_it_was(obj):
    """A result object as ``to_dict`` printed it: only the fields it had, in their order."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {name: as_it_was(getattr(obj, name)) for name in FIELDS[type(obj).__name__]}
    if isinstance(obj, (list, tuple)):
        return type(obj)(as_it_was(x) for x in obj)
    if isinstance(obj, dict):
        return {k: as_it_was(v) for k, v in obj.items()}
    return obj


def json_text(obj) -> str:
    return json.dumps(as_it_was(obj), ensure_ascii=False, indent=2)


def goals(kb, patient) -> list[str]:
    """What ``recommend`` names for the patient (derived concepts, recommended, not recommended,
    contraindicated and possible ids), then goals that do not hold: the first concepts and
    regimens it does not reach, and a rule id that holds and one that does not."""
    compiled = kb.compiled
    res = kb.evaluate(patient)
    named = list(res.derived) + [x.id for x in res.recommendations + res.not_recommended + res.contraindicated + res.possible]
    ev = kb.run(patient)
    concepts = [c for c, nid in compiled.concept_node.items() if ev.value(nid) is not True][:3]
    regimens = list(dict.fromkeys(compiled.nodes[k].name for k in compiled.regimens if ev.value(k) is not True))[:4]
    rules = [rid for rid, nid in compiled.rule_node.items() if ev.value(nid) is True][:1] + \
            [rid for rid, nid in compiled.rule_node.items() if ev.value(nid) is not True][:1]
    return list(dict.fromkeys(named + concepts + regimens + rules))


def text_of(render) -> str:
    from rich.console import Console
    from oncologic.report.text import TextRenderer
    out = io.StringIO()
    render(TextRenderer(shipped_kb().compiled, "en", Console(file=out, width=100, highlight=False, soft_wrap=False,
                                                              color_system=None, force_terminal=False)))
    return out.getvalue()


def outputs(patient) -> dict[str, str]:
    """Every frozen output for one patient, by name."""
    kb = shipped_kb()
    out = {"recommend": kb.evaluate(patient).to_json(indent=2),
           "recommend zh": kb.evaluate(patient, lang="zh").to_json(indent=2)}
    for goal in goals(kb, patient):
        ex, wn = kb.explain(patient, goal), kb.why_not(patient, goal)
        out[f"explain {goal}"] = json_text(ex)
        out[f"why-not {goal}"] = json_text(wn)
        out[f"explain text {goal}"] = text_of(lambda t: t.explanation(ex, patient.id))
        out[f"why-not text {goal}"] = text_of(lambda t: t.why_not(wn, patient.id))
    return out


def digests(out: dict[str, str]) -> dict[str, str]:
    """Per patient: one digest of its JSON outputs and one of its text outputs."""
    def digest(keys):
        h = hashlib.sha256()
        for k in keys:
            h.update(k.encode() + b"\0" + out[k].encode() + b"\0")
        return h.hexdigest()[:24]
    return {"recommend": digest([k for k in out if k.startswith("recommend")]),
            "json": digest([k for k in out if not k.startswith("recommend") and " text " not in k]),
            "text": digest([k for k in out if " text " in k]),
            "goals": str(sum(1 for k in out if k.startswith("explain ") and " text " not in k))}


def patients():
    kb = shipped_kb()
    return [p for path in example_files() for p in kb.patients(path)]


def main(argv: list[str]) -> None:
    if argv[:1] == ["--dump"]:
        target = Path(argv[1])
        target.mkdir(parents=True, exist_ok=True)
        for p in patients():
            (target / f"{p.id}.txt").write_text("".join(f"=== {k}\n{v}\n" for k, v in outputs(p).items()), encoding="utf-8")
    elif argv[:1] == ["--write"]:
        DIGESTS.parent.mkdir(exist_ok=True)
        data = {p.id: digests(outputs(p)) for p in patients()}
        DIGESTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
