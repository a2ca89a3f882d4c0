"""Reading patient files: JSON, YAML (1.2 core schema) and JSON Lines, within the limits of
:mod:`.limits`, so that nothing is read that the file did not say.

- The file is checked before it is read: its suffix, that it is a regular file (not a device,
  pipe or folder) and, for a single record, its size.
- JSON: a UTF-8 BOM is skipped; duplicate keys are an error naming both places; nesting is
  bounded before parsing; integers of more than ``MAX_DIGITS`` digits are refused unconverted.
- YAML: PyYAML's safe loader with the YAML 1.2 *core* schema instead of YAML 1.1's implicit
  types. Plain scalars resolve as YAML 1.2 says: ``true``/``false`` (not ``yes``/``on``),
  ``null``/``~``, integers ``123``, ``0o17``, ``0x1F``, floats ``1.5``, ``1e3``, ``.inf``;
  everything else is text (``12:30``, ``1_000``, ``2026-01-01``, ``yes``). One exception: an
  integer written with a leading zero (``0123``, ``010``, ``007``, ``09``) is refused with a
  message, because YAML 1.1 tools read it as octal (or text) and YAML 1.2 as decimal: the same
  file would mean two things. Only the core tags are constructed (``!!str``, ``!!int``,
  ``!!float``, ``!!bool``, ``!!null``, ``!!seq``, ``!!map``); any other (``!!binary``,
  ``!!timestamp``, ``!!set``, application tags) is refused. Duplicate keys are an error naming
  both lines; aliases are counted as they expand (``MAX_VALUES``) and nesting is bounded
  (``MAX_DEPTH``) while the document is composed, before anything is constructed.
- JSON Lines: streamed line by line (split on ``\\n`` only: U+2028 and U+0085 are valid inside
  JSON strings), each line at most ``MAX_RECORD_BYTES``; a bad line is reported with its number
  and reading goes on with the next.

A value the reader will not turn into data (a refused integer, an unknown tag) is kept as a
:class:`Refused` in its place, so that the validator can name the attribute it was given for.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Iterator

from ..errors import PatientError
from .limits import MAX_BUNDLE_BYTES, MAX_DEPTH, MAX_DIGITS, MAX_RECORD_BYTES, MAX_VALUES

SUFFIXES = (".json", ".jsonl", ".yaml", ".yml")


def patient_files(paths) -> list[Path]:
    """The record files under each path: a file as given, a folder searched recursively for
    files with a record suffix (:data:`SUFFIXES`, any case), sorted."""
    out: list[Path] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in SUFFIXES)
        else:
            out.append(p)
    return out


BOM = "\ufeff"


class Refused:
    """A value the reader did not turn into data; ``message`` says why. The validator reports
    it under the attribute it was given for."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message

    def __repr__(self) -> str:
        return f"Refused({self.message!r})"


class Written:
    """A YAML integer written in another form than its decimal one (``0x1F``, ``0o17``,
    ``+5``): a number for a numeric attribute, refused where text is expected (an id), since
    the text written is not the number's."""

    __slots__ = ("value", "text")

    def __init__(self, value: int, text: str):
        self.value = value
        self.text = text

    def __repr__(self) -> str:
        return f"Written({self.value!r}, {self.text!r})"


# -- files -------------------------------------------------------------------------------------

def check_file(path: str | os.PathLike, cohort: bool = False) -> tuple[Path, str]:
    """The path and its suffix, once it is known to be a patient file that can be read: the
    suffix first, then that it is a regular file, then (one record) its size. Nothing is read.
    ``cohort``: the caller streams the file record by record (:mod:`.cohorts`), so any suffix
    it passes is accepted and the size of the whole file is not bounded."""
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES and not cohort:
        raise PatientError(name, "unknown file type; a patient record is .json, .yaml/.yml, or .jsonl for a cohort")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PatientError(name, "no such file") from None
    except OSError as err:
        raise PatientError(name, f"cannot be read: {err.strerror or err}") from None
    if stat.S_ISDIR(info.st_mode):
        raise PatientError(name, "is a folder, not a patient record")
    if not stat.S_ISREG(info.st_mode):
        raise PatientError(name, "is not a regular file (a device, a pipe or a socket); a patient record is a file")
    limit = MAX_BUNDLE_BYTES if suffix == ".json" else MAX_RECORD_BYTES  # (a FHIR Bundle: checked once read)
    if suffix != ".jsonl" and not cohort and info.st_size > limit:
        raise PatientError(name, f"is {info.st_size} bytes; a record file holds at most {MAX_RECORD_BYTES} bytes, "
                                 f"a FHIR Bundle {MAX_BUNDLE_BYTES} (a cohort is a .jsonl file, one record a line)")
    return path, suffix


def is_fhir(raw: Any) -> bool:
    from .fhir.detect import is_fhir as fhir  # (lazy: the fhir package imports this module)
    return fhir(raw)


def read_entries(path: str | os.PathLike) -> Iterator[tuple[str, int | None, Any]]:
    """The records of a file as ``(where, line, raw)``: one for .json/.yaml/.yml (``line`` is
    None), one a line for .jsonl (``where`` is ``FILE:LINE``). A record that cannot be read is yielded as the
    :class:`PatientError` saying why, in its place, and reading goes on; a file that cannot be
    read at all (absent, not a regular file, too large, unknown suffix) raises it."""
    path, suffix = check_file(path)
    name = str(path)
    if suffix == ".jsonl":
        yield from _jsonl(path, name)
        return
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    except OSError as err:
        raise PatientError(name, f"cannot be read: {err.strerror or err}") from None
    limit = MAX_BUNDLE_BYTES if suffix == ".json" else MAX_RECORD_BYTES
    if len(data) > limit:  # it grew since it was looked at
        raise PatientError(name, f"is larger than {limit} bytes, the most a record file holds")
    try:
        text = _decode(data, name, lines=True)
        raw = parse_yaml(text, name) if suffix in (".yaml", ".yml") else parse_json(text, name)
        if len(data) > MAX_RECORD_BYTES and not is_fhir(raw):
            raise PatientError(name, f"is {len(data)} bytes; a record file holds at most {MAX_RECORD_BYTES} bytes, "
                                     f"a FHIR Bundle {MAX_BUNDLE_BYTES} (a cohort is a .jsonl file, one record a line)")
        yield name, None, raw
    except PatientError as err:
        yield name, None, err


def _jsonl(path: Path, name: str) -> Iterator[tuple[str, int, Any]]:
    try:
        f = open(path, "rb")
    except OSError as err:
        raise PatientError(name, f"cannot be read: {err.strerror or err}") from None
    with f:
        number = 0
        while True:
            line = f.readline(MAX_RECORD_BYTES + 1)  # split on b"\n" only
            if not line:
                return
            number += 1
            where = f"{name}:{number}"
            limit = MAX_RECORD_BYTES
            if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n") and b'"resourceType"' in line[:4096]:
                limit = MAX_BUNDLE_BYTES  # a FHIR Bundle may be longer (limits.MAX_BUNDLE_BYTES)
                line += f.readline(MAX_BUNDLE_BYTES + 1 - len(line))
            if len(line) > limit and not line.endswith(b"\n"):
                while (rest := f.readline(1 << 16)) and not rest.endswith(b"\n"):
                    pass  # the rest of the long line is skipped unread into memory
                yield where, number, PatientError(where, f"is longer than {limit} bytes, the most a record line holds",
                                          line=number)
                continue
            try:
                text = _decode(line, where, lines=False)
                if number == 1 and text.startswith(BOM):
                    text = text[1:]
                if not text.strip(" \t\r\n"):
                    continue  # a blank line
                raw = parse_json(text, where, line=number)
                if len(line) > MAX_RECORD_BYTES + 1 and not is_fhir(raw):
                    raise PatientError(where, f"is longer than {MAX_RECORD_BYTES} bytes, the most a record line holds")
                yield where, number, raw
            except PatientError as err:
                err.line = number
                yield where, number, err


def _decode(data: bytes, where: str, lines: bool) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        start = data.rfind(b"\n", 0, err.start) + 1
        column = len(data[start:err.start].decode("utf-8", "replace")) + 1
        line = data.count(b"\n", 0, err.start) + 1
        at = f"line {line}, column {column}" if lines else f"column {column}"
        raise PatientError(where, f"is not UTF-8 text: byte 0x{data[err.start]:02x} at {at}") from None
    return text[1:] if text.startswith(BOM) else text


def _position(text: str, index: int, line: int | None) -> str:
    """``line L, column C`` of an index in a file's text; ``column C`` in a JSON Lines line."""
    start = text.rfind("\n", 0, index) + 1
    column = index - start + 1
    return f"column {column}" if line is not None else f"line {text.count(chr(10), 0, index) + 1}, column {column}"


# -- JSON --------------------------------------------------------------------------------------

_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:]', re.S)


class _DuplicateKey(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _json_int(text: str) -> Any:
    digits = text.lstrip("-")
    if len(digits) > MAX_DIGITS:  # refused before int() converts it
        return Refused(f"a number of {len(digits)} digits; a record's numbers have at most {MAX_DIGITS}")
    if text == "-0":
        return Written(0, text)
    return int(text)


def json_float(text: str) -> Any:
    """A JSON number with a fraction or exponent as a float, or :class:`Refused` when no float
    holds it: ``1e400`` (it would become infinity) or ``1e-400`` (it would become 0.0); never
    a silently changed value."""
    value = float(text)
    if math.isinf(value):
        return Refused(f"{text} is not representable as a number (too large)")
    if value == 0 and any(c in "123456789" for c in re.split("[eE]", text)[0]):
        return Refused(f"{text} is not representable as a number (too close to 0, it would become 0)")
    return value


def parse_json(text: str, where: str, line: int | None = None) -> Any:
    """One JSON document (a file, or a JSON Lines line when ``line`` is given)."""
    depth = 0
    for match in _JSON_TOKENS.finditer(text):  # nesting, bounded before the parser recurses
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise PatientError(where, f"nests lists and objects deeper than {MAX_DEPTH} levels "
                                          f"(at {_position(text, match.start(), line)})")
        elif token in "]}":
            depth -= 1
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_int=_json_int, parse_float=json_float)
    except _DuplicateKey as dup:
        key = dup.args[0]
        places = _duplicate_places(text)
        if places is not None and places[0] == key:
            at = f"at {_position(text, places[1], line)} and at {_position(text, places[2], line)}"
        else:  # pragma: no cover - the scan finds what the parser found
            at = "twice"
        raise PatientError(where, f"is given twice in one object, {at}; a record gives each attribute once",
                           key) from None
    except json.JSONDecodeError as err:
        at = f"column {err.colno}" if line is not None else f"line {err.lineno}, column {err.colno}"
        msg = err.msg[:-3] if err.msg.endswith(" at") else err.msg  # "Invalid control character at"
        raise PatientError(where, f"is not valid JSON: {msg} at {at}") from None
    except RecursionError:  # pragma: no cover - the depth is bounded above
        raise PatientError(where, f"nests lists and objects deeper than {MAX_DEPTH} levels") from None


def _duplicate_places(text: str) -> tuple[str, int, int] | None:
    """The first key given twice in one object: (key, first index, second index)."""
    stack: list[dict | None] = []
    pending = None
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token == "{":
            stack.append({})
        elif token == "[":
            stack.append(None)
        elif token in "]}":
            if stack:
                stack.pop()
        elif token == ":":
            if pending is not None and stack and stack[-1] is not None:
                key, at = pending
                if key in stack[-1]:
                    return key, stack[-1][key], at
                stack[-1][key] = at
        else:
            pending = (json.loads(token), match.start())
            continue
        pending = None
    return None


# -- YAML: the 1.2 core schema on PyYAML's safe loader ------------------------------------------

_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_TRUE, _FALSE = ("true", "True", "TRUE"), ("false", "False", "FALSE")


def yaml_int(text: str) -> Any:
    """A YAML 1.2 core integer; a leading zero, or more than ``MAX_DIGITS`` digits, refused."""
    if not _CORE_INT.fullmatch(text):
        return Refused(f"'{text}' is tagged as an integer but is not one (YAML 1.2 integers: 123, 0o17, 0x1F)")
    base = {"0o": 8, "0x": 16}.get(text[:2], 10)
    digits = text[2:] if base != 10 else text.lstrip("+-")
    if len(digits) > MAX_DIGITS:
        return Refused(f"a number of {len(digits)} digits; a record's numbers have at most {MAX_DIGITS}")
    if base == 10 and len(digits) > 1 and digits.startswith("0"):
        negative = text.startswith("-")
        decimal = int(text)
        if set(digits) <= set("01234567"):
            other = f"the number {-int(digits, 8) if negative else int(digits, 8)} (octal)"
        else:
            other = f"the text '{text}'"
        return Refused(f"{text} is ambiguous: YAML 1.2 reads it as {decimal}, YAML 1.1 as {other}; "
                       f"write {decimal} for the number, or \"{text}\" in quotes for text")
    value = int(digits, base) if base != 10 else int(text)
    if abs(value) >= 10 ** MAX_DIGITS:
        return Refused(f"{text} is {value}, more than {MAX_DIGITS} digits; a record's numbers have at most {MAX_DIGITS}")
    return value if str(value) == text else Written(value, text)


def yaml_float(text: str) -> Any:
    if not _CORE_FLOAT.fullmatch(text):
        return Refused(f"'{text}' is tagged as a number but is not one (YAML 1.2: 1.5, 1e3, .inf)")
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text)


class _Problem(Exception):
    def __init__(self, message: str, mark, attribute: str | None = None):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.attribute = attribute


def _tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def _loader_class():
    """Built on first use, so that a JSON-only run never imports yaml."""
    global _Loader
    if _Loader is not None:
        return _Loader
    import yaml
    from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    class Loader(yaml.SafeLoader):
        """PyYAML's pure-Python safe loader (reader, scanner, parser) with: a composer that
        bounds nesting and counts alias expansion, the YAML 1.2 core schema's implicit
        resolvers, and constructors for the core tags only."""

        yaml_implicit_resolvers: dict = {}
        yaml_constructors: dict = {}

        def __init__(self, stream):
            super().__init__(stream)
            self._values = 0
            self._depth = 0
            self._open: set[str] = set()
            self._sizes: dict[str, int] = {}

        def _count(self, n: int, mark) -> None:
            self._values += n
            if self._values > MAX_VALUES:
                raise _Problem(f"holds more than {MAX_VALUES} values once its aliases are expanded; "
                               "a record is far smaller", mark)

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, AliasEvent):
                if event.anchor in self._open:
                    raise _Problem(f"the alias *{event.anchor} refers to the list or object that holds it", event.start_mark)
                self._count(self._sizes.get(event.anchor, 0), event.start_mark)
                return super().compose_node(parent, index)
            collection = isinstance(event, (SequenceStartEvent, MappingStartEvent))
            if collection:
                self._depth += 1
                if self._depth > MAX_DEPTH:
                    raise _Problem(f"nests lists and objects deeper than {MAX_DEPTH} levels", event.start_mark)
            anchor = event.anchor
            if anchor is not None:
                self._open.add(anchor)
            before = self._values
            self._count(1, event.start_mark)
            node = super().compose_node(parent, index)
            if collection:
                self._depth -= 1
            if anchor is not None:
                self._open.discard(anchor)
                self._sizes[anchor] = self._values - before
            return node

        def _scalar(self, node) -> str | None:
            return node.value if isinstance(node, ScalarNode) else None

        def construct_core_null(self, node):
            return None

        def construct_core_bool(self, node):
            text = self._scalar(node)
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            return Refused(f"'{text}' is tagged as true/false but is not one of: true, false")

        def construct_core_int(self, node):
            text = self._scalar(node)
            return yaml_int(text) if text is not None else Refused("a list or object tagged as an integer")

        def construct_core_float(self, node):
            text = self._scalar(node)
            return yaml_float(text) if text is not None else Refused("a list or object tagged as a number")

        def construct_core_str(self, node):
            text = self._scalar(node)
            return text if text is not None else Refused("a list or object tagged as text")

        def construct_core_seq(self, node):
            if not isinstance(node, SequenceNode):
                return Refused("a value tagged !!seq that is not a list")
            return [self.construct_object(child, deep=True) for child in node.value]

        def construct_core_map(self, node):
            if not isinstance(node, MappingNode):
                return Refused("a value tagged !!map that is not an object")
            out, seen = {}, {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise _Problem("a key must be a name, not a list or an object", key_node.start_mark)
                key = key_node.value  # the key as written: attribute names are text
                if key in seen:
                    raise _Problem(f"is given twice in one object, at line {seen[key].line + 1} and at line "
                                   f"{key_node.start_mark.line + 1}; a record gives each attribute once", None, key)
                seen[key] = key_node.start_mark
                out[key] = self.construct_object(value_node, deep=True)
            return out

        def construct_other(self, node):
            return Refused(f"a value tagged {_tag(node.tag)}; a record holds text, numbers, true/false, null, "
                           "lists and objects (YAML 1.2 core schema)")

    core = "tag:yaml.org,2002:"
    Loader.add_implicit_resolver(core + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    Loader.add_implicit_resolver(core + "null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
    Loader.add_implicit_resolver(core + "int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))
    Loader.add_implicit_resolver(core + "float", re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+.0123456789"))
    for name in ("null", "bool", "int", "float", "str", "seq", "map"):
        Loader.add_constructor(core + name, getattr(Loader, f"construct_core_{name}"))
    Loader.add_constructor(None, Loader.construct_other)
    _Loader = Loader
    return Loader


_Loader = None


def parse_yaml(text: str, where: str, with_node: bool = False) -> Any:
    """One YAML document, read with the YAML 1.2 core schema. ``with_node``: ``(value, node)``,
    the composed node tree beside the value (its marks give the line of every key and entry:
    rule-test files name the line of each test and expectation)."""
    import yaml
    loader = None
    try:
        loader = _loader_class()(text)  # its reader refuses unprintable characters here
        node = loader.get_single_node()
        value = loader.construct_document(node) if node is not None else None
        return (value, node) if with_node else value
    except _Problem as problem:
        at = f" (line {problem.mark.line + 1}, column {problem.mark.column + 1})" if problem.mark else ""
        raise PatientError(where, problem.message + at, problem.attribute) from None
    except yaml.reader.ReaderError as err:
        at = _position(text, err.position, None)
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise PatientError(where, f"is not valid YAML at {at}: character U+{code:04X} is not allowed "
                                  "(write it as an escape in a double-quoted string)") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        said = " ".join(filter(None, (getattr(err, "context", None), getattr(err, "problem", None)))) or str(err)
        raise PatientError(where, f"is not valid YAML{at}: {said}") from None
    finally:
        if loader is not None:
            loader.dispose()
