"""Stage 1: rule source text → lark parse tree.

The grammar lives in ``grammar/oncologic.lark`` (shipped inside the package). Syntax errors
become :class:`~oncologic.errors.Diagnostic` objects that name file, line and column and say
what was expected in words a rule author understands.
"""
from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import Diagnostic
from ..resources import grammar_path
from .limits import MAX_NESTING

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


def _char(char: str) -> str:
    """A character as an error message shows it: itself in quotes when it can be seen, else its
    code point and name (an invisible BOM, a zero-width space, an escape: U+FEFF ...)."""
    if char.isprintable() and not char.isspace():
        return f"'{char}'"
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def parse_text(text: str, filename: str) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse one rule file. Returns the tree, or None and the syntax error."""
    try:
        tree = parser().parse(text)
    except UnexpectedInput as err:
        return None, [_diagnostic(err, text, filename)]
    too_deep = _nesting_errors(tree, filename)
    return (None, too_deep) if too_deep else (tree, [])


_NESTING = frozenset({"or_", "and_", "not_", "any_record"})  # the tree nodes that are a level


def _nesting_errors(tree: Tree, filename: str) -> list[Diagnostic]:
    """A condition nested deeper than MAX_NESTING, at the operator that goes one level too far
    (one error per statement). Iterative: the tree can be as deep as the file is long."""
    errors = []
    for statement in tree.children:
        stack = [(statement, 0)]
        while stack:
            node, depth = stack.pop()
            if node.data in _NESTING:
                depth += 1
                if depth > MAX_NESTING:
                    errors.append(Diagnostic(filename, node.meta.line, node.meta.column,
                                             f"condition nested more than {MAX_NESTING} levels deep "
                                             f"(limit {MAX_NESTING}): split it into concepts"))
                    break
            stack.extend((c, depth) for c in node.children if isinstance(c, Tree))
    return errors


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
        message = f"unexpected character {_char(char)}"
        if err.allowed:
            message += f"; expected {_expected(err.allowed)}"
    elif isinstance(err, UnexpectedEOF):
        message = f"unexpected end of the file; expected {_expected(err.expected)}"
    else:  # pragma: no cover - lark has no other kinds
        message = str(err)
    return Diagnostic(filename, line, column, message)


BOM = b"\xef\xbb\xbf"


def decode(data: bytes, filename: str) -> tuple[str | None, list[Diagnostic]]:
    """The text of a rule file's bytes: UTF-8, a leading BOM skipped (editors on Windows write
    one; it is not part of the text), CRLF and a bare CR read as line ends (so positions count
    lines as an editor does). An invalid byte is an error at its own line and column, naming it."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = _lines(data[:err.start].decode("utf-8"))
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        return None, [Diagnostic(filename, line, column,
                                 f"not UTF-8 text: byte 0x{data[err.start]:02X} ({err.reason}); save the file as UTF-8")]
    return _lines(text), []


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_file(path: Path, display_name: str) -> tuple[Tree | None, list[Diagnostic]]:
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, [Diagnostic(display_name, 1, 1, f"cannot be read: {err.strerror or err}")]
    text, errors = decode(data, display_name)
    if text is None:
        return None, errors
    return parse_text(text, display_name)
