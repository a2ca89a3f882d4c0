"""Text from a record or a rule file, made safe to show on a terminal.

A patient id, a rule's note or a misspelt key is data: shown as text it must not move the
cursor, clear the screen or recolour what follows (an ESC sequence in an id could make a
terminal *display* "✔ topotecan holds"). :func:`visible` writes every control character as
an escape a person can read — ``\\x1b``, ``\\n``, ``\\u202e`` — and leaves everything else,
Chinese included, as it is. It is applied where such text enters the text output (the
renderer's :func:`oncologic.report.text.escape`) and to error messages; JSON output is not
changed (JSON escapes control characters itself).

Escaped: C0 and C1 control characters and DEL (category Cc), the bidirectional controls
(U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), the line and paragraph separators
(U+2028, U+2029) and lone surrogates (which cannot be written as UTF-8 at all).
"""
from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, keep_newlines: bool = False) -> str:
    """``text`` with its control characters written as escapes (``\\x1b``); with
    ``keep_newlines``, line breaks stay (a message of several lines)."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, text) if pattern.search(text) else text
