"""The rule files as text: where each statement ends, where a condition or a constant is
written, and the ``# check: allow CODE — reason`` markers.

The checked knowledge base keeps where each statement and each condition *starts*; a finding
also wants where it stops, and a marker is a comment, which the parser drops. So the files are
read again here (as the parser reads them: UTF-8, a leading byte-order mark skipped, LF, CRLF
or a bare CR ending a line; columns count characters) and a small tokenizer, the grammar's
terminals, finds the ends.

A statement spans from its keyword to its last token before the next statement (comments and
blank lines after it excluded). A marker belongs to the statement it is written in, or — on a
comment-only line of the block directly above a statement (no blank line between) — to that
statement; it allows its codes for the findings located in that statement.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..values import Record
from ..lang import nodes as n

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(r"""
    (?P<space>[ \t\f\u3000]+)
  | (?P<comment>\#[^\n]*)
  | (?P<newline>\n)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>\d+(?:\.\d+)?(?:[ \t]*(?:d|wk|mo|a|mm|cm|%)(?![A-Za-z0-9_]))?)
  | (?P<op><=|>=|!=|=|<|>|≤|≥|≠)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<punct>.)
""", re.VERBOSE)
MARKER = re.compile(r"^\s*check:\s*allow\b\s*(?P<codes>[A-Za-z]\d{3}(?:\s*,\s*[A-Za-z]\d{3})*)?(?P<rest>.*)$")
# A comment that means to be a marker but is not written as one (`# check allow W503`, `# Check:
# Allow ...`, `# check: allows ...`): never read as one, always reported (W508), so that a
# reviewer does not believe a warning allowed when it is not.
NEAR_MARKER = re.compile(r"^\s*check\s*:?\s*allow", re.IGNORECASE)


@dataclass(eq=False, repr=False)
class Marker(Record):
    """``# check: allow CODE[, CODE] — reason``."""

    file: str
    line: int
    column: int
    end_column: int
    codes: tuple[str, ...]
    reason: str
    statement: "Statement | None" = None
    used: set = field(default_factory=set)  # the codes it allowed for some finding
    malformed: bool = False  # meant as a marker, not written as one (NEAR_MARKER): allows nothing


@dataclass(eq=False, repr=False)
class Statement(Record):
    """Where a statement is written: from its keyword to its last token, and the first line of
    the comment block directly above it; the markers that belong to it."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    first_line: int  # the first line of the comment block directly above it (or its own line)
    markers: list = field(default_factory=list)


class SourceFile:
    """One rule file, read as the parser reads it."""

    def __init__(self, shown: str, path: Path | None):
        self.shown = shown
        try:
            text = path.read_bytes().decode("utf-8") if path is not None else ""
        except (OSError, UnicodeDecodeError):
            text = ""
        if text.startswith("\ufeff"):
            text = text[1:]
        self.lines = _LINE_BREAK.split(text)
        self.text = "\n".join(self.lines)
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self._tokens: list | None = None

    def offset(self, line: int, column: int) -> int:
        if not 1 <= line <= len(self.lines):
            return len(self.text)
        return self.starts[line - 1] + column - 1

    def position(self, offset: int) -> tuple[int, int]:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self.starts[lo] + 1

    def tokens(self) -> list[tuple[str, str, int, int]]:
        """(kind, text, start offset, end offset) of every token but spaces, newlines, comments."""
        if self._tokens is None:
            out = []
            for m in _TOKEN.finditer(self.text):
                kind = m.lastgroup
                if kind not in ("space", "newline", "comment"):
                    out.append((kind, m.group(), m.start(), m.end()))
            self._tokens = out
        return self._tokens

    def code_end(self, line: int, limit: int | None = None) -> int:
        """The column of the last code character of a line (0: a line without code); with
        ``limit``, of the code in the first ``limit`` characters only."""
        last = 0
        text = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        if limit is not None:
            text = text[:limit]
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup
            if kind == "comment":
                break
            if kind not in ("space", "newline"):
                last = m.end()
        return last

    def comment(self, line: int) -> tuple[int, str] | None:
        """(column, text after '#') of the comment on a line, or None."""
        text = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        for m in _TOKEN.finditer(text):
            if m.lastgroup == "comment":
                return m.start() + 1, m.group()[1:]
        return None


class Sources:
    """Every rule file of a knowledge base, its statements and markers."""

    def __init__(self, kb, kb_dir: str | os.PathLike | None, gradings=()):
        from ..compile.build import _display_root
        from ..resources import default_kb_dir
        given = None if kb_dir is None else str(kb_dir)
        display = _display_root(given)
        directory = default_kb_dir() if kb_dir is None else Path(kb_dir)
        self.files: dict[str, SourceFile] = {}
        for shown in kb.files:
            try:
                rel = os.path.relpath(shown, display)
                path = directory / rel
            except ValueError:
                path = None
            self.files[shown] = SourceFile(shown, path)
        starts: dict[str, list[n.Pos]] = {}
        things = [*kb.documents.values(), *kb.attributes.values(), *kb.items.values(), *kb.rules, *kb.gradings]
        for thing in things:
            starts.setdefault(thing.pos.file, []).append(thing.pos)
        self.statements: dict[str, list[Statement]] = {}
        self.markers: list[Marker] = []
        for shown, src in self.files.items():
            positions = sorted({(p.line, p.column) for p in starts.get(shown, [])})
            stmts = []
            for i, (line, column) in enumerate(positions):
                nxt = positions[i + 1] if i + 1 < len(positions) else (len(src.lines) + 1, 1)
                end_line, end_column = line, column
                last = nxt[0] if nxt[1] > 1 else nxt[0] - 1
                for ln in range(last, line - 1, -1):
                    end = src.code_end(ln, nxt[1] - 1 if ln == nxt[0] else None)
                    if end:
                        end_line, end_column = ln, end + 1
                        break
                first = line
                while first > 1 and src.code_end(first - 1) == 0 and src.comment(first - 1) is not None:
                    first -= 1
                stmts.append(Statement(shown, line, column, end_line, end_column, first))
            self.statements[shown] = stmts
            self._markers(src, stmts)

    def _markers(self, src: SourceFile, stmts: list[Statement]) -> None:
        for ln in range(1, len(src.lines) + 1):
            found = src.comment(ln)
            if found is None:
                continue
            column, text = found
            m = MARKER.match(text)
            if m is None:
                if NEAR_MARKER.match(text):
                    self.markers.append(Marker(src.shown, ln, column, len(src.lines[ln - 1]) + 1, (), text.strip(),
                                               malformed=True))
                continue
            codes = tuple(c.strip().upper() for c in (m.group("codes") or "").split(",") if c.strip())
            reason = m.group("rest").strip().lstrip("—–-:;,").strip()
            marker = Marker(src.shown, ln, column, len(src.lines[ln - 1]) + 1, codes, reason)
            for st in stmts:
                if st.first_line <= ln <= st.end_line:
                    marker.statement = st
                    st.markers.append(marker)
                    break
            self.markers.append(marker)

    def statement(self, file: str, line: int) -> Statement | None:
        for st in self.statements.get(file, ()):
            if st.line <= line <= st.end_line:
                return st
        return None

    def end_of_statement(self, pos: n.Pos) -> tuple[int, int] | None:
        st = self.statement(pos.file, pos.line)
        return (st.end_line, st.end_column) if st is not None else None

    # -- conditions --------------------------------------------------------------------------
    def _index(self, src: SourceFile, offset: int) -> int:
        toks = src.tokens()
        lo, hi = 0, len(toks)
        while lo < hi:
            mid = (lo + hi) // 2
            if toks[mid][2] < offset:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def extent(self, cond) -> tuple[int, int, int, int] | None:
        """(line, column, end line, end column) of a condition as written, or None."""
        pos = getattr(cond, "pos", None)
        src = self.files.get(pos.file) if pos is not None else None
        if src is None or not src.lines or pos.line < 1:
            return None
        start = src.offset(pos.line, pos.column)
        end = self._end(src, cond, start)
        if end is None:
            return None
        # a parenthesised operand of `not`: take its closing parentheses along
        depth = sum(1 if t[1] == "(" else -1 if t[1] == ")" else 0
                    for t in src.tokens()[self._index(src, start):self._index(src, end)])
        toks = src.tokens()
        i = self._index(src, end)
        while depth > 0 and i < len(toks) and toks[i][1] == ")":
            end, depth, i = toks[i][3], depth - 1, i + 1
        line, column = src.position(start)
        end_line, end_column = src.position(end)
        return line, column, end_line, end_column

    def _end(self, src: SourceFile, cond, start: int) -> int | None:
        toks = src.tokens()
        i = self._index(src, start)
        if i >= len(toks):
            return None
        if isinstance(cond, n.And) and n.gated_attribute(cond) is not None:
            return self._end(src, cond.items[1], src.offset(cond.items[1].pos.line, cond.items[1].pos.column))
        if isinstance(cond, (n.And, n.Or)):
            last = cond.items[-1]
            if isinstance(last, n.And) and n.gated_attribute(last) is not None:
                last = last.items[1]
            return self._end(src, last, src.offset(last.pos.line, last.pos.column))
        if isinstance(cond, n.Not):
            item = cond.item
            if isinstance(item, n.And) and n.gated_attribute(item) is not None:
                item = item.items[1]
            return self._end(src, item, src.offset(item.pos.line, item.pos.column))
        if isinstance(cond, (n.Ref, n.ConceptRef)):
            return toks[i][3]
        if isinstance(cond, n.Compare) and cond.value == n.BoolValue(True) and (i + 1 >= len(toks) or toks[i + 1][0] != "op"):
            return toks[i][3]  # a bare bool attribute
        if isinstance(cond, (n.OneOf, n.AnyRecord)) or (isinstance(cond, n.Has) and i + 2 < len(toks) and toks[i + 2][1] == "any"):
            j = i
            while j < len(toks) and toks[j][1] != "(":
                j += 1
            return self._close(toks, j)
        if isinstance(cond, (n.Compare, n.Has, n.IsEmpty, n.IsKnown)):
            return toks[min(i + 2, len(toks) - 1)][3]
        return toks[i][3]

    @staticmethod
    def _close(toks, j: int) -> int | None:
        depth = 0
        while j < len(toks):
            if toks[j][1] == "(":
                depth += 1
            elif toks[j][1] == ")":
                depth -= 1
                if depth == 0:
                    return toks[j][3]
            j += 1
        return None

    def constants(self, cond) -> list[tuple[int, int, int, int]]:
        """The place of each value of a comparison or ``in (...)`` as written, in order."""
        pos = cond.pos
        src = self.files.get(pos.file)
        if src is None or not src.lines:
            return []
        toks = src.tokens()
        i = self._index(src, src.offset(pos.line, pos.column))
        out = []
        if isinstance(cond, n.Compare):
            spots = [i + 2]
        else:
            j = i
            while j < len(toks) and toks[j][1] != "(":
                j += 1
            spots, j = [], j + 1
            while j < len(toks) and toks[j][1] != ")":
                if toks[j][1] != ",":
                    spots.append(j)
                j += 1
        for j in spots:
            if j < len(toks):
                line, column = src.position(toks[j][2])
                end_line, end_column = src.position(toks[j][3])
                out.append((line, column, end_line, end_column))
        return out
