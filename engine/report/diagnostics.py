"""The findings of ``oncologic check``, for a person (text) and for editors and CI (JSON).

Text, as compilers write it: each finding as ``FILE:LINE:COL: error[CODE]: MESSAGE`` (or
``warning[CODE]``), then the line of the rule file it is about and a caret line under its span
(``^~~~``), its witness patient (``  witness: {...}``) and its proof (``  proof: ...``) when it
has them, then one ``FILE:LINE:COL: note: ...`` line for each related place (each step of a
cycle); all findings of all files in one run, by file, line and column; and a count line
(``2 errors, 1 warning``; ``3 warnings (2 allowed)`` when markers allow some). The source line
keeps its tabs (so the caret lines up under it in a terminal), shows control characters as
escapes (:func:`oncologic.errors.visible`) and counts full-width characters as two columns.
With an error, all of it goes to stderr (the knowledge base cannot be used); without, to stdout
after the ``ok: ...`` line (a report of a knowledge base that works).

JSON (``check --format json``): ``{"ok": no errors, "errors": [...], "warnings": [...],
"diagnostics": [every finding, sorted], "files", "attributes", "items", "concepts", "rules",
"clauses", "allowed"}``, each finding :meth:`oncologic.errors.Diagnostic.to_json`, the counts
only when the knowledge base compiled, ``allowed`` (the number of warnings markers allow) only
when the analysis ran.
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Callable, Iterable

from ..errors import Diagnostic, visible

WINDOW = 80  # characters shown on each side of a span in a line longer than 2 * WINDOW + 40


def count_line(diagnostics: Iterable[Diagnostic], allowed: int = 0) -> str:
    """``"2 errors, 1 warning"``; ``"3 warnings (2 allowed)"`` with warnings that markers allow;
    ``"0 warnings"`` when there is nothing."""
    diagnostics = list(diagnostics)
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = [f"{count} {word}{'' if count == 1 else 's'}" for count, word in ((errors, "error"), (warnings, "warning")) if count]
    return (", ".join(parts) or "0 warnings") + (f" ({allowed} allowed)" if allowed else "")


class Sources:
    """The lines of the rule files the findings name, each file read once (as the parser reads
    it: positions agree). ``locate`` maps a file as a finding names it to its path."""

    def __init__(self, locate: Callable[[str], Path]):
        self.locate = locate
        self.files: dict[str, list[str] | None] = {}

    def line(self, file: str, number: int) -> str | None:
        if file not in self.files:
            from ..lang.parser import read_text
            try:
                self.files[file] = read_text(self.locate(file)).split("\n")
            except (OSError, ValueError):
                self.files[file] = None
        lines = self.files[file]
        return lines[number - 1] if lines is not None and 0 < number <= len(lines) else None


def _shown(char: str) -> tuple[str, int]:
    """A character of a source line as shown, and its width in a terminal."""
    if char == "\t":
        return "\t", 1
    text = visible(char)
    if text != char:
        return text, len(text)
    return char, 2 if unicodedata.east_asian_width(char) in ("W", "F") else (0 if unicodedata.combining(char) else 1)


def excerpt(text: str, column: int, end_column: int | None) -> tuple[str, str]:
    """(the source line as shown, the caret line under columns ``column`` to ``end_column``
    (exclusive; None: one character)). Tabs stay tabs in both, so they line up."""
    start = max(column - 1, 0)
    end = max(end_column - 1 if end_column else start + 1, start + 1)
    first, last, before, after = 0, len(text), "", ""
    if len(text) > 2 * WINDOW + 40:  # a very long line: the part around the span
        first, last = max(0, start - WINDOW), min(len(text), end + WINDOW)
        before, after = ("…" if first else ""), ("…" if last < len(text) else "")
    line, caret = [before], [" " * len(before)]
    for i in range(first, max(last, end)):
        shown, width = _shown(text[i]) if i < len(text) else (" ", 1)
        line.append(shown if i < len(text) else "")
        if i < start:
            caret.append("\t" if shown == "\t" else " " * width)
        elif i < end:
            caret.append(("^" if i == start else "~" * min(width, 1)) + "~" * (width - 1))
    line.append(after)
    return "".join(line), "".join(caret).rstrip()


def render_text(diagnostics: list[Diagnostic], sources: Sources) -> list[str]:
    """The text of every finding (see the module docstring), without the count line."""
    out: list[str] = []
    for d in diagnostics:
        out.append(str(d))
        text = sources.line(d.file, d.line)
        if text is not None:
            end = d.end_column if d.end_line in (None, d.line) else len(text) + 1
            shown, caret = excerpt(text, d.column, end)
            gutter = len(str(d.line))
            out.append(f" {d.line} | {shown}")
            out.append(f" {' ' * gutter} | {caret}")
        if d.witness is not None:
            out.append(f"  witness: {visible(json.dumps(d.witness, ensure_ascii=False, separators=(', ', ': ')))}")
        if d.proof:
            out.append(f"  proof: {visible(d.proof)}")
        for file, line, column, message in d.related:
            out.append(f"{visible(file)}:{line}:{column}: note: {visible(message)}")
    return out


def exit_status(diagnostics: list[Diagnostic], strict: bool = False) -> int:
    """2 when there is an error (or, ``strict``, a warning), else 0."""
    bad = any(d.severity == "error" or strict for d in diagnostics)
    return 2 if bad else 0


def summary(compiled) -> dict:
    """The counts of a compiled knowledge base, as ``check`` prints them."""
    checked = compiled.checked
    return {"files": len(checked.files), "attributes": len(checked.attributes), "items": len(checked.items),
            "concepts": len(checked.concepts), "rules": len(checked.rules), "clauses": len(compiled.program.clauses)}


def as_json(compiled, diagnostics: list[Diagnostic], allowed: int | None = None) -> str:
    """The JSON ``check --format json`` prints (see the module docstring); ``allowed``: the
    number of warnings that markers allow, when the analysis ran."""
    errors = [d for d in diagnostics if d.severity == "error"]
    data = {"ok": not errors, "errors": [d.to_json() for d in errors],
            "warnings": [d.to_json() for d in diagnostics if d.severity != "error"],
            "diagnostics": [d.to_json() for d in diagnostics]}
    if compiled is not None:
        data.update(summary(compiled))
    if allowed is not None:
        data["allowed"] = allowed
    return json.dumps(data, ensure_ascii=False, indent=2)


def as_text(compiled, diagnostics: list[Diagnostic], sources: Sources, allowed: int | None = None) -> tuple[list[str], list[str]]:
    """(the lines for stdout, the lines for stderr) of ``check`` in text (see the module
    docstring): with an error, the findings and the count on stderr; else ``ok: ...`` with the
    counts, the findings (warnings) and their count on stdout. ``allowed``: the number of
    warnings that markers allow, when the analysis ran (the count line is then always there)."""
    lines = render_text(diagnostics, sources)
    if diagnostics or allowed is not None:
        lines.append(count_line(diagnostics, allowed or 0))
    if any(d.severity == "error" for d in diagnostics) or compiled is None:
        return [], lines
    s = summary(compiled)
    counts = [(s["files"], "file"), (s["attributes"], "attribute"), (s["items"], "item"), (s["concepts"], "concept"),
              (s["rules"], "rule"), (s["clauses"], "Datalog clause")]
    ok = "ok: " + ", ".join(f"{n} {word}{'s' if n != 1 else ''}" for n, word in counts)
    return [ok] + lines, []
