"""A small self-contained knowledge base for engine tests, written to a temporary folder."""
from __future__ import annotations

import textwrap
from pathlib import Path

VOCABULARY = """
document doc "doc.txt" title "Test document"
attribute id: string required
attribute cancer: enum lung, hcc required
attribute histology: enum sclc, squamous, adenocarcinoma
attribute tfi: duration 0d..
  derive progression_date - first_line_end_date
attribute first_line_end_date: date
attribute progression_date: date
attribute line: int 1..
attribute ecog: int 0..4
attribute stenosis: bool
attribute pd_l1_tps: percent 0%..100%
attribute diameter: length 0mm..
attribute mutations: set of egfr, her2, kras
attribute prior_therapies: set of items
attribute adverse_events: list of { type: enum hepatitis, endocrine; grade: int 1..5; cause: enum immune, other }
class chemotherapy
class platinum is chemotherapy
drug carboplatin is platinum
drug topotecan is chemotherapy
drug bevacizumab
drug anlotinib
procedure bronchoscopy
"""


def write_kb(tmp_path: Path, rules: str, vocabulary: str = VOCABULARY, name: str = "kb") -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocabulary.rules").write_text(textwrap.dedent(vocabulary), encoding="utf-8")
    (folder / "rules.rules").write_text(textwrap.dedent(rules), encoding="utf-8")
    return folder
