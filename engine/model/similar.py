"""Did you mean ...? The names a misspelt or misremembered name may stand for.

A rule author writes what the guideline says, not always the knowledge base's id:
``histology = small_cell`` means ``sclc``, whose label is "small cell lung cancer" — and not
``large_cell``, which is only spelt alike. So a written name is matched against each candidate's
id **and** its labels (en and zh, as declared in ``facts/``):

1. a label match: every word of the written name (``_`` read as a space) is a word of one of
   the candidate's labels, and the label does not negate one of them ("non", "not", "no",
   "without" before it) where the name does not (``small_cell`` is not "non-small cell lung
   cancer");
2. a spelling match: the written name is close to the id or to a label (difflib's ratio, at
   least 0.6).

When some label matches, only label matches are offered (the fewer words the label adds, the
better: ``large_cell`` is not offered for ``small_cell``); else spelling matches, the closest
first. Ties go by id: deterministic. A candidate that differs only by case (``SCLC`` for
``sclc``) is the one offered, alone.
"""
from __future__ import annotations

import difflib
import re
from typing import Iterable, Mapping

_WORD = re.compile(r"[a-z0-9]+|[^\x00-\x7f\s\W]+")
_NEGATIONS = frozenset({"non", "not", "no", "without", "negative", "absent"})
CUTOFF = 0.6


def words(text: str) -> list[str]:
    """The words of a name or a label, lower case (``_``, ``-`` and punctuation separate)."""
    return _WORD.findall(text.lower().replace("_", " "))


def _negates(label: str, written: set[str]) -> bool:
    """Whether the label negates a word of the written name that the name does not negate
    ("non-small cell" for ``small_cell``; not "not otherwise specified")."""
    said = words(label)
    return any(word in _NEGATIONS and word not in written and said[i + 1] in written
               for i, word in enumerate(said[:-1]))


def similar(written: str, candidates: Mapping[str, Iterable[str]], n: int = 3) -> list[tuple[str, str | None]]:
    """Up to ``n`` candidates ``written`` may stand for, best first: ``(id, label)`` where
    ``label`` is the label that matched by its words, or None for a spelling match.
    ``candidates`` maps each id to its labels (any languages; may be empty)."""
    same = sorted(name for name in candidates if name != written and name.lower() == written.lower())
    if same:  # `SCLC`, `Sclc`: only case differs; nothing else is meant
        return [(name, None) for name in same[:n]]
    wanted = set(words(written))
    plain = " ".join(words(written))
    scored = []
    for name, labels in candidates.items():
        if name == written:
            continue
        labels = [label for label in labels if label]
        best = None
        for label in labels:
            label_words = words(label)
            if wanted and wanted <= set(label_words) and not _negates(label, wanted):
                score = (0, len(label_words) - len(wanted), 0.0)
                if best is None or score < best[0]:
                    best = (score, label)
        if best is None:
            ratio = max(difflib.SequenceMatcher(None, written, name).ratio(),
                        *(difflib.SequenceMatcher(None, plain, " ".join(words(text))).ratio() for text in [name, *labels]))
            if ratio >= CUTOFF:
                best = ((1, 0, -ratio), None)
        if best is not None:
            scored.append((best[0], name, best[1]))
    scored.sort(key=lambda entry: (entry[0], entry[1]))
    if scored and scored[0][2] is not None:  # what a label says outranks what is only spelt alike
        scored = [entry for entry in scored if entry[2] is not None]
    return [(name, label) for _, name, label in scored[:n]]


def did_you_mean(written: str, candidates: Mapping[str, Iterable[str]]) -> str:
    """``"; did you mean 'sclc' (small cell lung cancer)?"``, or ``""`` when nothing is close."""
    found = similar(written, candidates)
    if not found:
        return ""
    shown = [f"'{name}'" + (f" ({label})" if label else "") for name, label in found]
    return f"; did you mean {' or '.join(shown)}?"
