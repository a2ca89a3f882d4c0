"""Cohorts: many records read one at a time from JSON Lines, a JSON array, CSV or Parquet.

:func:`read_cohort` streams ``(where, line, raw)`` entries as
:func:`oncologic.records.reading.read_entries` does for one file: ``raw`` is the record as a
dict of attribute values for :func:`oncologic.records.patient.validate`, or the
:class:`~oncologic.errors.PatientError` that says why it could not be read, in its place;
reading goes on with the next record wherever the format allows it. Nothing is read ahead of
the record asked for (Parquet: of one batch of ``rows`` rows). The format comes from the
suffix, any case (:data:`ACCEPTED`):

- ``.jsonl``: one record a line, read by :func:`~oncologic.records.reading.read_entries`;
  ``where`` is ``FILE:LINE``.
- ``.json``: an array of records, parsed as a stream (ijson) and never read whole; ``where``
  is ``FILE record N`` (N from 1). Each element is bounded as a record file is
  (:mod:`.limits`: its text, nesting, values) while it is parsed, and a key given twice in one
  object is refused. A file whose text is not valid JSON is reported at the record where the
  text breaks, and the records after it cannot be read (the message says so). A ``.json`` file
  holding one object is one record, read as ``recommend`` reads it.
- ``.csv``: a header row of attribute names, then a row per record; ``where`` is
  ``FILE:LINE``, the line the row starts on (the header is line 1). A row holding a byte
  that is not UTF-8, or longer than a record may be (``MAX_RECORD_BYTES``), is a bad record;
  the rows after it are read. Each cell is read by its
  column's *declared* type (:func:`cell_value`): an empty cell is an absent attribute; a cell
  that does not convert stays text, so that validation refuses it naming the line and column;
  no value is ever changed silently.
- ``.parquet``: a file of flat records (one column per attribute; lists for sets, lists of
  structs for record lists; null is absent), or a folder searched recursively for ``*.parquet``
  files, read in name order. Read with pyarrow in batches (``iter_batches``); ``where`` is
  ``FILE row N``, numbered from 1 in each file. A row whose values take more than
  ``MAX_RECORD_BYTES`` (their text's length, 8 bytes a number) is a bad record. A file of a folder that is not readable
  Parquet is reported in its place (``FILE: is not a readable Parquet file (...)``) and
  skipped; a file that breaks in the middle keeps the rows before it, and the message says
  from which row on it could not be read. Such a PatientError, like a JSON array or a CSV
  file broken in the middle, has ``stops`` set: the records after it in that file were not
  read. Needs ``pip install 'oncologic[parquet]'``.
- ``.yaml``/``.yml``: one record, as ``recommend`` reads it.

Any other suffix raises a :class:`~oncologic.errors.PatientError` listing what is accepted.
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from ..errors import OncologicError, PatientError
from ..lang import nodes as n
from ..lang import units
from ..model.kb import CheckedKB
from .limits import MAX_DEPTH, MAX_DIGITS, MAX_RECORD_BYTES, MAX_VALUES
from .reading import BOM, Refused, check_file, is_fhir, json_float, parse_json, read_entries

ACCEPTED = (".jsonl (one record a line), .json (an array of records), .csv (a header of attribute names, "
            "a row per record), .parquet (a row per record), a folder of .parquet files, or one .yaml/.yml record")

#: What separates the values of a set in a CSV cell written without brackets.
SET_SEPARATOR = "|"

Entry = tuple[str, "int | None", Any]  # (where, line or row or record number, raw dict or PatientError)


def read_cohort(path: str | os.PathLike, kb: CheckedKB, rows: int = 1024,
                as_of: "dt.date | None" = None) -> Iterator[Entry]:
    """Every record of the cohort at ``path`` (:func:`_read_cohort`); FHIR ones read as of
    ``as_of`` (default today): an NDJSON bulk export folder, a Bundle file (a record a patient),
    Bundles in a .jsonl file or a .json array (one patient each)."""
    for where, line, raw in _read_cohort(path, kb, rows, as_of):
        if isinstance(raw, dict) and is_fhir(raw):
            from .fhir import read_bundle
            try:
                raw = read_bundle(raw, kb, as_of, where)[0]
            except PatientError as err:
                err.line = line
                raw = err
        yield where, line, raw


def _read_cohort(path: str | os.PathLike, kb: CheckedKB, rows: int = 1024,
                 as_of: "dt.date | None" = None) -> Iterator[Entry]:
    """Every record of the cohort at ``path``, in order, as ``(where, number, raw)`` (see the
    module's docstring for each format). ``kb`` gives the declared types a CSV cell is read by;
    ``rows``: how many Parquet rows are read at a time.

    Raises :class:`~oncologic.errors.PatientError` (when first iterated) for a cohort that
    cannot be read at all: absent, unknown suffix, not a regular file, a CSV header or Parquet
    schema that names an unknown attribute, no attribute or one twice, a file that is not
    Parquet, a folder with no .parquet file (a file of a folder: yielded in its place);
    :class:`~oncologic.errors.OncologicError` when pyarrow is needed and not installed.
    """
    path = Path(path)
    if path.is_dir() and any(path.glob("*.ndjson")):  # a FHIR bulk export: one record a patient
        from .fhir import read_bulk_folder
        for where, line, item in read_bulk_folder(path, kb, as_of):
            yield where, line, item[0] if isinstance(item, tuple) else item
        return
    if path.is_dir():
        yield from _parquet_folder(path, rows, kb)
        return
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".yaml", ".yml"):
        yield from read_entries(path)
    elif suffix == ".json" and _starts_with_object(path):  # a FHIR Bundle: a record a patient
        from .fhir import read_bundle_cohort
        for where, line, raw in read_entries(path):
            if not isinstance(raw, dict) or not is_fhir(raw) or raw.get("resourceType") != "Bundle":
                yield where, line, raw  # one record (or an error), as a record file is read
                continue
            for at, _, item in read_bundle_cohort(raw, kb, as_of, where):
                yield at, None, item[0] if isinstance(item, tuple) else item
    elif suffix == ".json":
        yield from _json(path)
    elif suffix == ".csv":
        yield from _csv(path, kb)
    elif suffix == ".parquet":
        yield from _parquet(path, rows, kb)
    else:
        raise PatientError(str(path), f"unknown cohort file type; accepted: {ACCEPTED}")


def _starts_with_object(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096).lstrip(BOM.encode()).lstrip(b" \t\r\n")
    except OSError:
        return False
    return head.startswith(b"{")


def _open(path: Path, **options):
    try:
        return open(path, **options)
    except OSError as err:
        raise PatientError(str(path), f"cannot be read: {err.strerror or err}") from None


# -- a JSON array --------------------------------------------------------------------------------

def _json(path: Path) -> Iterator[Entry]:
    path, _ = check_file(path, cohort=True)
    with _open(path, mode="rb") as f:
        start = 3 if f.read(3) == BOM.encode() else 0
        f.seek(start)
        head = f.read(4096).lstrip(b" \t\r\n")
        while not head:
            chunk = f.read(4096)
            if not chunk:
                break
            head = chunk.lstrip(b" \t\r\n")
        if not head.startswith(b"["):
            array = False
        else:
            array = True
            f.seek(start)
            yield from _json_array(f, str(path))
    if not array:  # one record (or not JSON): as a record file is read, within its size limit
        yield from read_entries(path)


def _json_array(f, name: str) -> Iterator[Entry]:
    import ijson
    events = ijson.basic_parse(f)  # numbers with a fraction as Decimal: checked by json_float
    number = 0
    inside = False
    try:
        next(events)  # start_array: the file starts with "["
        for event, value in events:
            if event == "end_array":
                break
            number += 1
            inside = True
            where = f"{name} record {number}"
            yield where, number, _element(events, event, value, where, number)
            inside = False
        for _ in events:  # the text after the array: white space only, or an error raised here
            pass
    except ijson.JSONError as err:
        at = number if inside else number + 1
        # the parser's first line only (its context lines come as real or escaped newlines)
        said = str(err).split("\n", 1)[0].split("\\n", 1)[0].strip().strip("b'\"").rstrip(".")
        yield (f"{name} record {at}", at,
               PatientError(f"{name} record {at}", f"is not valid JSON ({said}); the records after it cannot be read",
                            line=at, stops=True))


def _element(events, event: str, value: Any, where: str, number: int) -> Any:
    """One element of the array built from its parse events, bounded as it is built: the
    value, or a PatientError once a limit is passed (the element's other events are then read
    and dropped, not kept)."""
    result: Any = None
    stack: list[list] = []  # [container, pending key]
    depth = values = size = 0
    problem: PatientError | None = None

    def fail(message: str, attribute: str | None = None) -> None:
        nonlocal problem, stack
        problem = PatientError(where, message, attribute, line=number)
        stack = []

    while True:
        values += 1
        if event in ("start_map", "start_array"):
            depth += 1
            if problem is None and depth > MAX_DEPTH:
                fail(f"nests lists and objects deeper than {MAX_DEPTH} levels")
            item: Any = {} if event == "start_map" else []
        elif event in ("end_map", "end_array"):
            depth -= 1
            if problem is None:
                stack.pop()
            item = None
        elif event == "map_key":
            size += len(value)
            if problem is None:
                if value in stack[-1][0]:
                    fail("is given twice in one object; a record gives each attribute once", value)
                else:
                    stack[-1][1] = value
            item = None
        else:
            size += len(value) if isinstance(value, str) else 8
            item = json_float(str(value).lower()) if isinstance(value, decimal.Decimal) else value
        if problem is None and values > MAX_VALUES:
            fail(f"holds more than {MAX_VALUES} values; a record is far smaller")
        if problem is None and size > MAX_RECORD_BYTES:
            fail(f"is longer than {MAX_RECORD_BYTES} bytes, the most a record holds")
        if problem is None and event not in ("end_map", "end_array", "map_key"):
            if not stack:
                result = item
            elif isinstance(stack[-1][0], list):
                stack[-1][0].append(item)
            else:
                stack[-1][0][stack[-1][1]] = item
            if event in ("start_map", "start_array"):
                stack.append([item, None])
        if depth == 0:
            return problem if problem is not None else result
        event, value = next(events)


# -- CSV -------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_ID = n.TypeSpec("string")


def cell_value(text: str, spec: n.TypeSpec | None) -> Any:
    """A CSV cell (not empty) as the value of an attribute declared ``spec`` (None: not
    declared; the text is kept, and validation names it): the README's "CSV cells".

    - int, number: a JSON number (``4``, ``-1.5``, ``2e3``); duration, percent, length: a number
      (in the canonical unit) or the quantity as written, ``45d``, ``25%``, ``4.5cm``;
    - bool: ``true`` or ``false``, any case;
    - set (and drug sets): a JSON list, ``["egfr_19del", "alk_fusion"]`` (``[]`` = none
      present), or the values separated by ``|``, ``egfr_19del|alk_fusion``;
    - a list of records (``adverse_events``): a JSON list of objects;
    - enum, string (``id``), date: the text as it is.

    Anything that does not convert is returned as the text it is, for validation to refuse
    with the attribute's expectation. Raises :class:`~oncologic.errors.PatientError` (without
    a place; the caller adds it) for a set or record list whose JSON is not valid.
    """
    kind = spec.kind if spec is not None else "string"
    if kind in ("int", "number") or kind in units.UNITS:
        if _NUMBER.fullmatch(text):
            digits = len(text.lstrip("-").split(".")[0].split("e")[0].split("E")[0])
            if digits > MAX_DIGITS:
                return Refused(f"a number of {digits} digits; a record's numbers have at most {MAX_DIGITS}")
            return json_float(text) if any(c in text for c in ".eE") else int(text)
        return text
    if kind == "bool":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind in ("set", "item_set", "record_list"):
        written = text.strip()
        if written.startswith("[") or kind == "record_list":
            try:
                return parse_json(written, "cell", line=1)
            except PatientError as err:
                raise PatientError("cell", str(err).removeprefix("cell: ")) from None
        return [part.strip() for part in written.split(SET_SEPARATOR)]
    return text


def csv_cells(record: dict) -> dict[str, str]:
    """A record (as JSON gives it) as CSV cells that :func:`cell_value` reads back to the same
    values: lists and objects as JSON text, true/false, numbers as JSON writes them, null as
    an empty cell."""
    out = {}
    for key, value in record.items():
        if value is None:
            out[key] = ""
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, dict, int, float)):
            out[key] = json.dumps(value, ensure_ascii=False)
        else:
            out[key] = str(value)
    return out


def _csv(path: Path, kb: CheckedKB) -> Iterator[Entry]:
    path, _ = check_file(path, cohort=True)
    name = str(path)
    if csv.field_size_limit() < MAX_RECORD_BYTES:
        csv.field_size_limit(MAX_RECORD_BYTES)  # a cell as long as a record may be, and no longer
    # Bytes that are not UTF-8 become lone surrogates, refused row by row (_not_utf8).
    with _open(path, mode="r", encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        line = 1
        try:
            header = next(reader, None)
            if header is None:
                return  # an empty file: no record
            columns = [cell.strip() for cell in header]
            seen: dict[str, int] = {}
            for index, column in enumerate(columns, 1):
                if not column:
                    raise PatientError(name, f"line 1: column {index} of the header names no attribute")
                if column in seen:
                    raise PatientError(name, f"line 1: the header names '{column}' twice (columns {seen[column]} "
                                             f"and {index})", column)
                seen[column] = index
            _known_columns(name, columns, kb)
            specs = [(column, _spec(kb, column)) for column in columns]
            line = reader.line_num + 1
            for cells in reader:
                start, line = line, reader.line_num + 1
                if not cells:
                    continue  # a blank line
                where = f"{name}:{start}"
                if len(cells) != len(columns):
                    yield where, start, PatientError(where, f"has {len(cells)} cells; the header has {len(columns)}",
                                                     line=start)
                    continue
                problem = _not_utf8(cells) or _too_long(cells)
                if problem:
                    yield where, start, PatientError(where, problem, line=start)
                    continue
                raw: dict[str, Any] = {}
                try:
                    for (column, spec), cell in zip(specs, cells):
                        if cell != "":
                            raw[column] = _cell(cell, spec, column, where, start)
                except PatientError as err:
                    yield where, start, err
                    continue
                yield where, start, raw
        except csv.Error as err:
            at = reader.line_num or 1
            where = f"{name}:{at}"
            yield where, at, PatientError(where, f"is not valid CSV ({err}); the rows after it cannot be read",
                                          line=at, stops=True)


_SURROGATE = re.compile("[\udc80-\udcff]")


def _not_utf8(cells: list[str]) -> str | None:
    """Why a row read with ``surrogateescape`` is not UTF-8 text (its first such byte), or None."""
    for index, cell in enumerate(cells, 1):
        if found := _SURROGATE.search(cell):
            byte = ord(found.group()) - 0xDC00
            return f"is not UTF-8 text: byte 0x{byte:02x} in column {index}"
    return None


def _too_long(cells: list[str]) -> str | None:
    """Why a row is longer than a record may be (as a JSON Lines line is bounded), or None."""
    size = sum(len(cell.encode("utf-8", "surrogateescape")) for cell in cells)
    return f"is longer than {MAX_RECORD_BYTES} bytes, the most a record holds" if size > MAX_RECORD_BYTES else None


def _known_columns(name: str, columns: list[str], kb: CheckedKB, place: str = "the header") -> None:
    """Raises :class:`~oncologic.errors.PatientError`, once for the file, naming the first
    column (CSV header, Parquet schema) that is no attribute of ``kb`` (nor ``id``)."""
    for index, column in enumerate(columns, 1):
        if column != "id" and column not in kb.attributes:
            from .patient import _suggest  # an error path only
            hint = _suggest(column, kb.attributes, {a: v.labels for a, v in kb.attributes.items()})
            raise PatientError(name, f"unknown attribute '{column}' in {place} (column {index}){hint}; "
                                     f"known: {', '.join(sorted(kb.attributes))}")


def _spec(kb: CheckedKB, column: str) -> n.TypeSpec | None:
    attr = kb.attributes.get(column)
    return attr.type if attr is not None else (_ID if column == "id" else None)


def _cell(text: str, spec, column: str, where: str, line: int) -> Any:
    try:
        return cell_value(text, spec)
    except PatientError as err:
        raise PatientError(where, str(err).removeprefix("cell: "), column, line=line) from None


# -- Parquet ---------------------------------------------------------------------------------------

def parquet_module():
    """``pyarrow.parquet``; :class:`~oncologic.errors.OncologicError` naming the extra to
    install when pyarrow is not installed."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError:
        raise OncologicError("reading or writing Parquet needs pyarrow, which is not installed: "
                             "pip install 'oncologic[parquet]'") from None
    return pq


def _parquet_folder(folder: Path, rows: int, kb: CheckedKB) -> Iterator[Entry]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".parquet")
    if not files:
        raise PatientError(str(folder), f"is a folder with no .parquet file; a cohort is a file ({ACCEPTED})")
    for file in files:
        try:
            yield from _parquet(file, rows, kb)
        except PatientError as err:  # one file of the folder cannot be read: reported, skipped
            err.stops = True
            yield str(file), None, err


def _parquet(path: Path, rows: int, kb: CheckedKB) -> Iterator[Entry]:
    pq = parquet_module()
    import pyarrow as pa
    path, _ = check_file(path, cohort=True)
    name = str(path)
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise PatientError(name, f"is not a readable Parquet file ({_said(err)})") from None
    _known_columns(name, file.schema_arrow.names, kb, "the file's columns")
    number = 0
    try:
        for group in range(file.num_row_groups):  # a group at a time: a broken group keeps the rows before it
            for batch in file.iter_batches(batch_size=rows, row_groups=[group]):
                for row in batch.to_pylist():
                    number += 1
                    where = f"{name} row {number}"
                    if _size(row) > MAX_RECORD_BYTES:
                        yield where, number, PatientError(
                            where, f"is longer than {MAX_RECORD_BYTES} bytes, the most a record holds", line=number)
                        continue
                    yield where, number, {k: _arrow_plain(v) for k, v in row.items() if v is not None}
    except (pa.ArrowException, OSError) as err:
        where = f"{name} row {number + 1}"
        yield where, number + 1, PatientError(
            where, f"the file cannot be read from row {number + 1} on ({_said(err)}); the rows before it were read, "
                   "the rows from it on were not", line=number + 1, stops=True)


def _size(value: Any) -> int:
    """About how many bytes a Parquet row's value takes as a record's text: text and bytes
    their length, keys theirs, any other scalar 8."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return sum(len(k) + _size(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_size(v) for v in value) + len(value)
    return 8


def _said(err: Exception) -> str:
    """pyarrow's message, on one line."""
    return " ".join(str(err).split()) or type(err).__name__


def _arrow_plain(value: Any) -> Any:
    """A Parquet value as a record holds it: a decimal as the int or float it is, a timestamp
    at midnight as its date; lists and structs inside out. Anything else as it is (validation
    refuses what a record cannot hold, naming the attribute)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date()
        return Refused(f"{value.isoformat()} is a time stamp with a time of day; a record's dates are days (YYYY-MM-DD)")
    if isinstance(value, list):
        return [_arrow_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _arrow_plain(v) for k, v in value.items()}
    return value


def parquet_schema(kb: CheckedKB):
    """The Parquet schema of a cohort of ``kb``'s records, a column per declared attribute
    (and ``id``): text for enums, text and dates; int64 for whole numbers, float64 for
    numbers; bool; the quantity *as written* for durations, percentages and lengths (``"45d"``,
    or ``"45"`` for a bare number: exact, and read back as written); a list of text for sets;
    a list of structs for record lists. :func:`read_cohort` reads such a file back to the same
    records (nulls are absent attributes)."""
    import pyarrow as pa
    parquet_module()

    def arrow(spec: n.TypeSpec):
        kind = spec.kind
        if kind == "int":
            return pa.int64()
        if kind == "number":
            return pa.float64()
        if kind == "bool":
            return pa.bool_()
        if kind in ("set", "item_set"):
            return pa.list_(pa.string())
        if kind == "record_list":
            return pa.list_(pa.struct([(f.name, arrow(f.type)) for f in spec.fields]))
        return pa.string()

    columns = [("id", pa.string())] if "id" not in kb.attributes else []
    return pa.schema(columns + [(name, arrow(attr.type)) for name, attr in kb.attributes.items()])


def parquet_row(record: dict, kb: CheckedKB) -> dict:
    """A record (as JSON gives it) as a row of :func:`parquet_schema`: quantities as the text
    written (a number as JSON writes it), everything else as it is."""
    out = {}
    for key, value in record.items():
        attr = kb.attributes.get(key)
        if attr is not None and attr.type.kind in units.UNITS and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            value = json.dumps(value)
        out[key] = value
    return out
