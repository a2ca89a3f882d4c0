"""Stage 1: rule source text → lark parse tree.

The grammar lives in ``grammar/oncologic.lark`` (shipped inside the package). Syntax errors
become :class:`~oncologic.errors.Diagnostic` objects that name file, line and column and say
what was expected in words a rule author understands.
"""
from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import Diagnostic
from ..resources import grammar_path

# How the grammar's terminals read in an error message.
_TERMINAL_WORDS = {
    "ID": "a name",
    "STRING": 'a quoted text ("...")',
    "NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "UNIT": "a unit",
    "COMPARATOR": "a comparison (=, !=, <, <=, >, >=)",
    "COLON": "':'",
    "COMMA": "','",
    "SEMICOLON": "';'",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "PERCENT": "'%'",
    "__ANON_0": "'..'",
    "$END": "the end of the file",
}


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _describe(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    pattern = None
    try:
        pattern = parser().get_terminal(name).pattern
    except KeyError:
        pass
    if pattern is not None and pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


def _expected(names) -> str:
    words = sorted({_describe(n) for n in names})
    if len(words) > 8:
        words = words[:8] + ["..."]
    return ", ".join(words)


def parse_text(text: str, filename: str) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse one rule file. Returns the tree, or None and the syntax error."""
    try:
        return parser().parse(text), []
    except UnexpectedInput as err:
        return None, [_diagnostic(err, text, filename)]


def _diagnostic(err: UnexpectedInput, text: str, filename: str) -> Diagnostic:
    line, column = getattr(err, "line", 0) or 0, getattr(err, "column", 0) or 0
    if isinstance(err, UnexpectedToken):
        token: Token = err.token
        if token.type == "$END":
            found = "the end of the file"
            line = text.count("\n") + 1
            column = len(text) - text.rfind("\n")
        else:
            found = f"'{token}'"
        message = f"unexpected {found}; expected {_expected(err.accepts or err.expected)}"
    elif isinstance(err, UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else "?"
        message = f"unexpected character '{char}'"
        if err.allowed:
            message += f"; expected {_expected(err.allowed)}"
    elif isinstance(err, UnexpectedEOF):
        message = f"unexpected end of the file; expected {_expected(err.expected)}"
    else:  # pragma: no cover - lark has no other kinds
        message = str(err)
    return Diagnostic(filename, line, column, message)


def parse_file(path: Path, display_name: str) -> tuple[Tree | None, list[Diagnostic]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        return None, [Diagnostic(display_name, 1, 1, f"not UTF-8 text ({err.reason})")]
    except OSError as err:
        return None, [Diagnostic(display_name, 1, 1, f"cannot be read: {err.strerror or err}")]
    return parse_text(text, display_name)
