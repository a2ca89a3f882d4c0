"""Embedding oncologic in another tool: load once, evaluate many patients, explain, serialise.

Run from the repository root:  .venv/bin/python examples/embed.py
"""
import json

import oncologic

kb = oncologic.load()  # the shipped knowledge base (parsed, checked, compiled and cached)

# A record can be a dict, or a path to a .json / .yaml file.
patient = {
    "id": "pt-embed",
    "cancer": "lung",
    "histology": "sclc",
    "first_line_end_date": "2026-01-15",
    "progression_date": "2026-03-01",  # tfi is derived: 45 days
    "line": 2,
}

result = kb.evaluate(patient)
print("derived:", result.derived)
for rec in result.recommendations:
    print(f"  {rec.id:28} {rec.strength or '-':9} evidence {rec.evidence or '-':4} "
          f"{rec.consensus}%  {rec.source.locator}")
print("still possible with more data:", [(p.id, p.missing) for p in result.possible])

# The proof of one recommendation, with the patient's actual values.
proof = kb.explain(patient, "anlotinib+irinotecan").proof
print("proof:", proof.conclusion, "by", proof.rule.id, "->", [c.conclusion for c in proof.children])

# Why another one does not hold, rule by rule.
why = kb.why_not(patient, "anlotinib")
for attempt in why.attempts:
    print("why not", why.goal, "by", attempt.rule.id, ":", [c.text for c in attempt.failed])

# Everything as the contract's JSON (CONTRACT.md §4).
print(json.dumps(result.to_dict(), ensure_ascii=False)[:120], "...")

# Bad input raises oncologic.PatientError with a message naming the attribute.
try:
    kb.evaluate({"id": "bad", "cancer": "lung", "ecog": 7})
except oncologic.PatientError as err:
    print("rejected:", err)
