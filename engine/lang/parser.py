"""Stage 1: rule source text → lark parse tree.

The grammar lives in ``grammar/oncologic.lark`` (shipped inside the package). Syntax errors
become :class:`~oncologic.errors.Diagnostic` objects that name file, line and column, say what
was expected in words a rule author understands, and carry a stable code (E0xx,
:mod:`oncologic.model.codes`).

A syntax error costs its own statement and nothing else: the parser reports it, drops the
statement that holds it (from its first word to the next statement keyword that begins a
line, blanked so that every position stays) and parses on, so one file can report several
syntax errors and every good statement still counts. The names a dropped statement declares
are returned with the tree (:class:`Parsed`), so that references to them elsewhere are not
reported as unknown.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import Diagnostic
from ..resources import grammar_path
from ..values import Record
from . import units
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

MAX_SYNTAX_ERRORS = 50  # per file; past it the rest of the file is not read (its names still count)


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
    )


# ---- words of the grammar ----------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _keywords() -> dict[str, str]:
    """Terminal name → keyword, for every word the grammar spells out (``NOT`` → ``not``)."""
    return {t.name: t.pattern.value for t in parser().terminals
            if t.pattern.type == "str" and re.fullmatch(r"[A-Za-z_]+", t.pattern.value)}


def keywords() -> frozenset[str]:
    """Every word the grammar spells out (``attribute``, ``if``, ``not``, ``en``, ``int`` ...):
    what editors highlight and complete as the language's own words."""
    return frozenset(_keywords().values())


def unit_pattern() -> str:
    """The regular expression of a unit after a number, as the grammar writes it (``d``,
    ``wk``, ``mo``, ``a``, ``mm``, ``cm``, ``%``)."""
    return parser().get_terminal("UNIT").pattern.value


def _reachable(start: str, follow) -> set[str]:
    """The grammar rules reachable from ``start`` (itself included), ``follow(expansion)``
    naming the symbols of one expansion to go on with."""
    rules = parser().rules
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for r in rules:
            if r.origin.name == name:
                stack.extend(sym.name for sym in follow(r.expansion) if not sym.is_term)
    return seen


def _first_words(rule: str) -> set[str]:
    """The keywords a grammar rule can begin with."""
    words = _keywords()
    below = _reachable(rule, lambda expansion: expansion[:1])
    return {words[r.expansion[0].name] for r in parser().rules
            if r.origin.name in below and r.expansion and r.expansion[0].is_term and r.expansion[0].name in words}


@functools.lru_cache(maxsize=1)
def statement_keywords() -> frozenset[str]:
    """The words a statement begins with (document, grading, attribute, drug, ..., concept,
    setting, recommendation, contraindication), read from the grammar."""
    return frozenset(_first_words("statement"))


@functools.lru_cache(maxsize=1)
def reserved_words() -> frozenset[str]:
    """The words that cannot be declared as names, read from the grammar: every keyword of a
    condition (the rules below ``expr``: not, and, or, in, has, any, of, is, empty, known, where,
    true, false), every word a statement begins with, and the words that open a clause holding a
    condition (if, applies, when, population, for). A name spelt so could not be used in a
    condition, or would read as the language's own word (``attribute not: bool``). Other
    keywords (``id``, ``grade``, ``date`` ...) open a clause of their own only after a complete
    condition, so they stay free as names (the contract's ``id`` attribute is one)."""
    rules, words = parser().rules, _keywords()
    below = _reachable("expr", lambda expansion: expansion)
    out = set(statement_keywords())
    for r in rules:
        terms = [words[s.name] for s in r.expansion if s.is_term and s.name in words]
        holds_condition = any(s.name == "expr" for s in r.expansion) or r.alias == "for_setting"  # `for S` is its condition's first term
        if r.origin.name in below or holds_condition:
            out.update(terms)
    return frozenset(out)


@functools.lru_cache(maxsize=1)
def _statement_start() -> re.Pattern:
    """A statement keyword that begins a line (a string and a comment end with their line, so
    a line start is never inside one)."""
    words = "|".join(sorted(statement_keywords(), key=lambda w: (-len(w), w)))
    return re.compile(rf"^[ \t\f\u3000]*({words})(?![A-Za-z0-9_.])", re.M)


_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
KINDS = {"document": "document", "grading": "grading", "attribute": "attribute", "drug": "item", "class": "item",
         "procedure": "item", "action": "item", "group": "item", "concept": "concept", "setting": "concept",
         "recommendation": "rule", "contraindication": "rule"}
"""The kind of name each statement keyword declares."""


# ---- messages ----------------------------------------------------------------------------------

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


# What an IME's punctuation stands for where NFKC gives nothing (or a character the language
# does not use: a tilde for a range)
_IME_TWINS = {"、": ",", "。": ".", "“": '"', "”": '"', "「": '"', "」": '"', "～": "..", "〜": ".."}


def _ascii_twin(char: str) -> str | None:
    """The ASCII character a full-width (or other compatibility) character stands for
    (``＜`` → ``<``, ``（`` → ``(``), by Unicode's NFKC, or an IME's punctuation (``、`` → ``,``,
    ``“`` → ``"``, ``～`` → ``..``); None when there is none."""
    if char in _IME_TWINS:
        return _IME_TWINS[char]
    twin = unicodedata.normalize("NFKC", char)
    return twin if twin != char and twin.isascii() and twin.isprintable() else None


# A number just before a position: the number of a quantity whose unit is written otherwise
_NUMBER_BEFORE = re.compile(r"(?<![A-Za-z0-9_.])(\d+(?:\.\d+)?)([ \t\u3000]*)$")
_UNIT_WORD = re.compile(r"[A-Za-z]+|[\u4e00-\u9fff]{1,2}")


_GRADE_BEFORE = re.compile(r"(?<![A-Za-z0-9_.])(evidence)[ \t\u3000]*$")


def _unit_hint(text: str, start: int) -> tuple[str, int, int] | None:
    """A unit written the wrong way at ``start`` (``3m``, ``90 days``, ``90D``, ``3个月``): (the
    message, where the quantity starts, where it ends), or None."""
    before = _NUMBER_BEFORE.search(text, max(0, start - 40), start)
    word = _UNIT_WORD.match(text, start)
    if before is None or word is None:
        return None
    if _GRADE_BEFORE.search(text, max(0, before.start(1) - 40), before.start(1)):
        return None  # `evidence 1A`: a level, not a quantity (no unit to write otherwise)
    written = word.group()
    if not written.isascii():  # Chinese units: the longest that is one (个月 before 月)
        written = next((w for w in (written, written[:1]) if w in units.UNIT_SPELLINGS), written)
    hint = units.unit_hint(written)
    if hint is None:
        return None
    message = f"unit '{written}' in '{before.group(1)}{before.group(2)}{written}': {hint}"
    return message, before.start(1), start + len(written)


def _position(text: str, offset: int) -> tuple[int, int]:
    """(line, column), 1-based, of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _diagnostic(err: UnexpectedInput, text: str, filename: str, at: int) -> Diagnostic:
    """The diagnostic of a syntax error at offset ``at``: E003 (a unit written otherwise), E004
    (a full-width character), E002 (another character), E001 (a word or symbol)."""
    line, column = _position(text, at)
    end = at + 1
    code = "E001"
    if isinstance(err, UnexpectedToken):
        token: Token = err.token
        if token.type == "$END":
            message = f"unexpected end of the file; expected {_expected(err.accepts or err.expected)}"
            end = at
        else:
            end = at + len(token)
            hint = _unit_hint(text, at) if token.type == "ID" else None
            number = _NUMBER_BEFORE.search(text, max(0, at - 40), at) if token.type == "ID" else None
            level = number is not None and _GRADE_BEFORE.search(text, max(0, number.start(1) - 40), number.start(1))
            if level:  # `evidence 1A`: not a unit
                message = (f"unexpected '{token}' after '{level.group(1)} {number.group(1)}': a level is one name "
                           f"or one number (I, II, III, 1, 2, A1), with no letter after its digits")
            elif hint is not None:
                message, start, end = hint
                code, (line, column) = "E003", _position(text, start)
            else:
                message = f"unexpected '{token}'; expected {_expected(err.accepts or err.expected)}"
    elif isinstance(err, UnexpectedCharacters):
        char = text[at] if at < len(text) else "?"
        hint = _unit_hint(text, at)
        twin = _ascii_twin(char)
        if hint is not None:
            message, start, end = hint
            code, (line, column) = "E003", _position(text, start)
        elif twin is not None:
            code, message = "E004", f"full-width character '{char}': write '{twin}'"
        else:
            code, message = "E002", f"unexpected character {_char(char)}"
            if char == "~":
                message += "; write '..' for a range (0..4)"
            elif err.allowed:
                message += f"; expected {_expected(err.allowed)}"
    else:  # pragma: no cover - lark raises no other kind from parse()
        message = str(err)
    end_line, end_column = _position(text, end)
    return Diagnostic(filename, line, column, message, code=code, end_line=end_line, end_column=end_column)


# ---- recovery ----------------------------------------------------------------------------------

@dataclass(eq=False, repr=False)
class Parsed(Record):
    """One rule file parsed: ``tree`` (the statements that parsed; None when the file could not
    be read), ``diagnostics`` (its syntax errors) and ``failed``: ``(kind, name, line, column)``
    for each name declared by a statement that was dropped (``name`` None when its statement
    lost its name too: a name of that kind could be anything). ``kind`` is ``document``,
    ``grading``, ``attribute``, ``item``, ``concept`` or ``rule``."""

    tree: Tree | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failed: list[tuple[str, str | None, int, int]] = field(default_factory=list)


def _starts(text: str) -> list[int]:
    return [m.start(1) for m in _statement_start().finditer(text)]


_WORD_NAME = re.compile(rf"^[ \t\f\u3000]*([A-Za-z]+)[ \t\u3000]+({_NAME})", re.M)


def _misspelt_keyword(word: str) -> str | None:
    """The statement keyword a word that is none stands for (``Concept``, ``concpet``,
    ``atribute``): the same but for case, or one spelt alike; None otherwise (and for a word of
    the grammar: ``and``, ``if``, ``source`` ...)."""
    import difflib
    if word in _keywords().values():
        return None
    keywords = sorted(statement_keywords())
    lower = word.lower()
    if lower in keywords:
        return lower
    swapped = [k for k in keywords if len(k) == len(lower) > 3 and sorted(k) == sorted(lower)
               and sum(a != b for a, b in zip(k, lower)) == 2]  # two letters swapped: `durg`
    close = swapped or difflib.get_close_matches(lower, keywords, n=1, cutoff=0.8)
    return close[0] if close else None


def _typos(text: str) -> dict[int, tuple[str, str, int, int]]:
    """Line starts ``WORD NAME`` whose WORD is a misspelt statement keyword: offset of WORD →
    (the keyword, NAME, line and column of NAME). Each counts as a statement start: the one
    before it ends there, it is dropped alone, and the name it meant to declare is known."""
    out = {}
    for m in _WORD_NAME.finditer(text):
        keyword = _misspelt_keyword(m.group(1))
        if keyword is not None and m.group(2) not in _keywords().values():
            out[m.start(1)] = (keyword, m.group(2), *_position(text, m.start(2)))
    return out


_SPLIT_NAME = re.compile(rf"([ \t\u3000]+|-)({_NAME})")


_HEADER = re.compile(rf"({'|'.join(KINDS)})(?![A-Za-z0-9_.])[ \t\n\f\u3000]*({_NAME})?")


def _header(text: str, start: int) -> tuple[str, str | None, int, int] | None:
    """What the statement at ``start`` declares: (kind, name or None, line, column)."""
    match = _HEADER.match(text, start)
    if match is None:
        return None
    name = match.group(2)
    if name is not None and name in _keywords().values():
        name = None  # `concept if ...`: the name is missing, the next word is a keyword
    line, column = _position(text, match.start(2) if name else start)
    return KINDS[match.group(1)], name, line, column


def _statement_of(err: UnexpectedInput, at: int) -> int | None:
    """Where the statement being read when the error came began (its first word), or None when
    the error came between statements. Read from the parser's stack: what it holds beyond the
    completed statements is the broken one."""
    interactive = getattr(err, "interactive_parser", None)
    stack = interactive.parser_state.value_stack if interactive is not None else []
    for value in stack:
        if isinstance(value, Tree) and (value.data == "start" or str(value.data).startswith("__start")):
            continue
        if isinstance(value, Token) and value.start_pos is not None:
            return value.start_pos
        if isinstance(value, Tree) and not value.meta.empty:
            return value.meta.start_pos
    return None


def _ended_early(text: str, cut: int, err: UnexpectedInput) -> UnexpectedInput:
    """The error to report for a statement that stops before the statement keyword at ``cut``
    (``concept x if`` and then ``recommendation r`` on the next line: lark reads the keyword
    as the condition's name and stumbles later): "unexpected 'recommendation'", with what was
    expected there (what the text up to ``cut`` lacks at its end)."""
    try:
        parser().parse(text[:cut])
    except UnexpectedToken as early:
        if early.token.type == "$END":
            word = re.match(r"[A-Za-z_]+", text[cut:]).group()
            return UnexpectedToken(Token("ID", word, start_pos=cut), early.expected, state=early.state,
                                   interactive_parser=early.interactive_parser)
    except UnexpectedInput:
        pass
    return err


def _blank(text: str, start: int, end: int) -> str:
    """``text`` with [start, end) turned to spaces, line ends kept (positions do not move)."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _error_offset(err: UnexpectedInput, text: str) -> int:
    if isinstance(err, UnexpectedToken):
        return len(text) if err.token.type == "$END" else err.token.start_pos
    return err.pos_in_stream


def parse_text(text: str, filename: str, unreadable: tuple[int, ...] = ()) -> Parsed:
    """Parse one rule file, recovering from syntax errors statement by statement.

    ``unreadable``: offsets of characters that stand for bytes that were not UTF-8 (reported
    already, by :func:`decode`): the statements holding them are dropped without a second
    report. Returns a :class:`Parsed`; never raises for bad text."""
    work, out = text, Parsed(None)
    skip = set(unreadable)
    for _ in range(MAX_SYNTAX_ERRORS + len(skip)):
        try:
            tree = parser().parse(work)
            break
        except UnexpectedInput as err:
            at = _error_offset(err, work)
            start = _statement_of(err, at)
            typos = _typos(work)
            starts = sorted(set(_starts(work)) | set(typos))
            cut = next((s for s in starts if start is not None and start < s < at), None)
            if cut is not None:  # the statement ended early: the next one's keyword was read as a name
                err, at = _ended_early(work, cut, err), cut
            if at in typos:  # `Concept x`, `concpet x`: that statement, dropped alone, its name known
                keyword, name, line, column = typos[at]
                word = re.match(r"[A-Za-z]+", work[at:]).group()
                out.diagnostics.append(Diagnostic(filename, *_position(work, at), f"unexpected '{word}'; did you mean '{keyword}'?",
                                                  code="E001", end_line=_position(work, at)[0], end_column=_position(work, at)[1] + len(word)))
                out.failed.append((KINDS[keyword], name, line, column))
                end = next((s for s in starts if s > at), len(work))
                work = _blank(work, at, end)
                continue
            diagnostic = _diagnostic(err, work, filename, at)
            declared = _header(work, start) if start is not None else None
            split = _SPLIT_NAME.match(work, _HEADER.match(work, start).end()) if declared and declared[1] else None
            if split is not None and split.start() <= at < split.end() and "\n" not in split.group():
                # `concept lung cancer`, `concept lung-cancer`: a name is one word; what it meant is known
                joined = f"{declared[1]}_{split.group(2)}"
                out.failed.append((declared[0], joined, declared[2], declared[3]))
                line, column = _position(work, _HEADER.match(work, start).start(2))
                end_line, end_column = _position(work, split.end())
                diagnostic = replace(diagnostic, line=line, column=column, end_line=end_line, end_column=end_column,
                                     message=f"unexpected '{declared[1]}{split.group(1)}{split.group(2)}': "
                                             f"a name is one word: write '{joined}'")
            if at not in skip:
                out.diagnostics.append(diagnostic)
            if start is None:  # between statements: from the error to the next statement
                start = at
                end = next((s for s in starts if s > at), len(work))
            else:
                end = next((s for s in starts if s > start and s >= at), len(work))
            declared = _header(work, start)
            if declared is not None:
                out.failed.append(declared)
            if end <= start:  # pragma: no cover - the error is inside [start, end) or at its end
                end = max(at + 1, start + 1)
            work = _blank(work, start, end)
    else:  # too many errors: the rest is not read, but what it declares still counts
        out.failed.extend(h for s in _starts(work) if (h := _header(work, s)) is not None)
        out.tree = Tree("start", [])
        return out
    kept, deep = _nesting(tree, filename)
    out.diagnostics += deep
    for statement in tree.children:
        if statement not in kept:
            out.failed.append(_declared(statement))
    tree.children = kept
    out.tree = tree
    return out


_NESTING = frozenset({"or_", "and_", "not_", "any_record"})  # the tree nodes that are a level


def _nesting(tree: Tree, filename: str) -> tuple[list[Tree], list[Diagnostic]]:
    """The statements whose conditions nest at most MAX_NESTING levels, and an error for each
    other one, at the operator that goes one level too far. Iterative: the tree can be as deep
    as the file is long."""
    kept, errors = [], []
    for statement in tree.children:
        stack = [(statement, 0)]
        too_deep = None
        while stack and too_deep is None:
            node, depth = stack.pop()
            if node.data in _NESTING:
                depth += 1
                if depth > MAX_NESTING:
                    too_deep = node
            stack.extend((c, depth) for c in node.children if isinstance(c, Tree))
        if too_deep is None:
            kept.append(statement)
            continue
        meta = too_deep.meta
        word = {"or_": None, "and_": None, "not_": 3, "any_record": 3}[too_deep.data]
        end = (meta.line, meta.column + word) if word else (meta.end_line, meta.end_column)
        errors.append(Diagnostic(filename, meta.line, meta.column,
                                 f"condition nested more than {MAX_NESTING} levels deep "
                                 f"(limit {MAX_NESTING}): split it into concepts",
                                 code="E008", end_line=end[0], end_column=end[1]))
    return kept, errors


def _declared(statement: Tree) -> tuple[str, str | None, int, int]:
    """What a parsed statement declares: (kind, name, line, column)."""
    names = [c for c in statement.children if isinstance(c, Token) and c.type == "ID"]
    heads = [c for c in statement.children if isinstance(c, Tree) and c.data in ("item_kind", "concept_kind")]
    word = str(heads[0].children[0]) if heads else str(statement.data)
    name = names[0] if names else None
    return (KINDS.get(word, "rule"), str(name) if name is not None else None,
            name.line if name is not None else statement.meta.line, name.column if name is not None else statement.meta.column)


# ---- reading -----------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def decode(data: bytes, filename: str) -> tuple[str, list[Diagnostic], tuple[int, ...]]:
    """The text of a rule file's bytes: UTF-8, a leading BOM skipped (editors on Windows write
    one; it is not part of the text), CRLF and a bare CR read as line ends (so positions count
    lines as an editor does).

    Returns ``(text, diagnostics, unreadable)``. A byte that is not UTF-8 becomes U+FFFD in the
    text, its offset is in ``unreadable``, and the first one is an error (E006) at its own line
    and column, naming it; the parser drops the statements that hold them."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")  # no UTF-8 sequence holds these bytes
    try:
        return data.decode("utf-8"), [], ()
    except UnicodeDecodeError:
        pass
    lines, bad, diagnostics, offset = [], [], [], 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        parts, rest = [], raw
        while True:
            try:
                parts.append(rest.decode("utf-8"))
                break
            except UnicodeDecodeError as err:
                parts.append(rest[:err.start].decode("utf-8"))
                column = sum(map(len, parts)) + 1
                if not diagnostics:
                    diagnostics.append(Diagnostic(
                        filename, number, column,
                        f"not UTF-8 text: byte 0x{rest[err.start]:02X} ({err.reason}); save the file as UTF-8",
                        code="E006", end_line=number, end_column=column + 1))
                bad.append(offset + column - 1)
                parts.append("\ufffd")
                rest = rest[err.end:]
        line = "".join(parts)
        lines.append(line)
        offset += len(line) + 1
    return "\n".join(lines), diagnostics, tuple(bad)


def read_text(path: Path) -> str:
    """A rule file's text as the parser reads it (positions agree with its diagnostics);
    OSError when it cannot be read."""
    return decode(path.read_bytes(), str(path))[0]


def parse_file(path: Path, display_name: str, text: str | None = None) -> Parsed:
    """Read, decode and parse one rule file (:func:`parse_text`); a file that cannot be read
    is one error (E007) and no tree, and may have declared anything (``failed`` holds every
    kind without a name). ``text``: the file's content as an editor holds it (not saved yet),
    read in place of the file's bytes, as the bytes would be (line ends, a BOM)."""
    try:
        data = path.read_bytes() if text is None else text.encode("utf-8", "surrogatepass")
    except OSError as err:  # what it declares is unknown: no unknown name of any kind is reported
        return Parsed(None, [Diagnostic(display_name, 1, 1, f"cannot be read: {err.strerror or err}",
                                        code="E007", end_line=1, end_column=1)],
                      [(kind, None, 1, 1) for kind in sorted(set(KINDS.values()))])
    text, errors, unreadable = decode(data, display_name)
    parsed = parse_text(text, display_name, unreadable)
    parsed.diagnostics[:0] = errors
    return parsed
