"""Errors a user can act on.

Every error the engine raises for bad input is an :class:`OncologicError`; the CLI prints its
message on stderr and exits with status 2. Anything else is an internal error (status 1).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


class OncologicError(Exception):
    """Bad input: a rule file, a patient record, a goal or an option."""


@dataclass(frozen=True)
class Diagnostic:
    """One finding in a rule file, printed as ``FILE:LINE:COL: SEVERITY[CODE]: MESSAGE``.

    ``line``/``column`` are 1-based; ``end_line``/``end_column`` (exclusive column, as LSP's
    range end) mark where the offending text stops, or are None when only a point is known.
    ``code`` is stable across versions (the table in :mod:`oncologic.model.codes`); ``severity``
    is ``error`` (the knowledge base cannot be used) or ``warning`` (it can, but a reviewer should
    look). ``rules`` names the rule ids a finding is about; ``witness`` is a patient record (the
    flat record of CONTRACT §1) that shows it, re-checked with the engine; ``proof`` says in words
    why no patient exists when that is the finding; ``related`` lists other places that matter,
    each ``(file, line, column, message)``.
    """

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"
    code: str = ""
    end_line: int | None = None
    end_column: int | None = None
    rules: tuple[str, ...] = ()
    witness: dict | None = field(default=None, hash=False, compare=False)
    proof: str | None = None
    related: tuple[tuple[str, int, int, str], ...] = ()

    def __str__(self) -> str:
        tag = f"{self.severity}[{self.code}]" if self.code else self.severity
        return f"{visible(self.file)}:{self.line}:{self.column}: {tag}: {visible(self.message)}"

    def to_json(self) -> dict:
        """The JSON object ``check --format json`` prints for this finding (every field;
        ``end_line``/``end_column`` fall back to the start when unknown)."""
        return {"file": self.file, "line": self.line, "column": self.column,
                "end_line": self.end_line if self.end_line is not None else self.line,
                "end_column": self.end_column if self.end_column is not None else self.column,
                "severity": self.severity, "code": self.code, "message": self.message,
                "rules": list(self.rules), "witness": self.witness, "proof": self.proof,
                "related": [{"file": f, "line": l, "column": c, "message": m} for f, l, c, m in self.related]}


class RuleError(OncologicError):
    """The knowledge base has errors; ``diagnostics`` lists all of them."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class PatientError(OncologicError):
    """A patient record is not valid; the message names the file (``FILE`` or, in a JSON Lines
    cohort, ``FILE:LINE``) and the attribute. ``line`` is the cohort line, or None.
    ``stops``: True when reading the file stopped here (a JSON array or a CSV file broken in
    the middle, a Parquet file that cannot be read from this row on): the records after it in
    that file were not read.

    The message is one line, its control characters written as escapes (``\\x1b``): it quotes
    what the record says, and a record's text must not reach a terminal as control codes."""

    def __init__(self, source: str, message: str, attribute: str | None = None, line: int | None = None,
                 stops: bool = False):
        self.source = source
        self.attribute = attribute
        self.line = line
        self.stops = stops
        where = f"{source}: attribute '{attribute}'" if attribute else source
        super().__init__(visible(f"{where}: {message}"))

    @classmethod
    def rebuilt(cls, text: str, source: str, attribute: str | None, line: int | None) -> "PatientError":
        """The error whose ``str()`` is ``text`` (a message already made, as ``str(err)`` gives
        it), with these ``source``, ``attribute`` and ``line``: an error sent from another
        process as plain data (:mod:`oncologic.pool`), the same as the one raised there."""
        err = cls.__new__(cls)
        OncologicError.__init__(err, text)
        err.source, err.attribute, err.line = source, attribute, line
        return err


class GoalError(OncologicError):
    """An explain/why-not goal that the knowledge base does not know."""


# -- text from a record or a rule file, safe to show -------------------------------------------
# A patient id, a rule's note or a misspelt key is data: shown as text it must not move the
# cursor, clear the screen or recolour what follows (an ESC sequence in an id could make a
# terminal *display* "✔ topotecan holds"). :func:`visible` writes every control character as an
# escape a person can read (``\\x1b``, ``\\n``, ``\\u202e``) and leaves everything else, Chinese
# included, as it is. It is applied where such text enters the text output (the renderer's
# :func:`oncologic.report.text.escape`) and to error messages; JSON output is not changed.
# Escaped: C0 and C1 control characters and DEL (category Cc), the bidirectional controls
# (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the line and paragraph separators
# (U+2028, U+2029) and lone surrogates (which cannot be written as UTF-8 at all).

# ... and the other invisible format characters a message could hide (U+200B zero width space,
# U+2060 word joiner, U+FEFF byte order mark).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # control, format, surrogate, private use, unassigned


def visible(text: str, keep_newlines: bool = False) -> str:
    """``text`` with its control characters written as escapes (``\\x1b``); with
    ``keep_newlines``, line breaks stay (a message of several lines). Any other character that
    cannot be seen and is no space (a format character, a private-use or unassigned code point:
    ``\\uff00`` from a broken byte sequence) is written as its code point too."""
    if text.isprintable():
        return text
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    text = pattern.sub(_escape, text) if pattern.search(text) else text
    import unicodedata  # here: only a text that still cannot be shown needs it (a cold start does not)
    if not text.isprintable() and any(unicodedata.category(c) in _HIDDEN and c != "\n" for c in text):
        text = "".join(_escape_code(c) if unicodedata.category(c) in _HIDDEN and c != "\n" else c for c in text)
    return text


def _escape_code(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
