"""A cohort's results: written one patient at a time (JSON Lines, CSV, Parquet), and counted for
the summary table ``oncologic cohort`` prints on stderr.

Every output holds, per patient, exactly the ``recommend --format json`` object (CONTRACT §4):

- JSON Lines: that object on one line.
- CSV and Parquet: one row per patient with the columns :data:`COLUMNS`, in that order:
  ``patient`` (text), then each other top-level key of the object (``derived``,
  ``recommendations``, ``not_recommended``, ``contraindicated``, ``missing``, ``possible``,
  ``possibly_not_recommended``) as its JSON text. :func:`row_object` turns a row back into the
  object; DuckDB reads the columns with its JSON functions (README, "Cohorts").

Nothing is held but the current chunk: a writer writes each row as it comes (Parquet: one row
group per chunk), and the summary keeps counts only.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys
from collections import Counter
from typing import IO, Iterable

from ..errors import OncologicError
from ..reason.results import Result
from ..values import Record

#: The columns of a CSV or Parquet result row: the keys of ``recommend --format json``.
COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Result))
FORMATS = ("jsonl", "parquet", "csv")
STRENGTHS = ("strong", "moderate", "weak", None)


def result_row(result: Result) -> dict[str, str]:
    """A result as a CSV/Parquet row: ``patient`` as text, every other key as JSON text."""
    return _row(result.to_dict())


def _row(data: dict) -> dict[str, str]:
    return {key: data[key] if key == "patient" else json.dumps(data[key], ensure_ascii=False) for key in COLUMNS}


#: What the summary counts of one result (:func:`tally`): the settings of its recommendations,
#: each ``(id, strength)`` recommended, the attributes missing; each in order, once.
Tally = tuple[tuple[str, ...], tuple[tuple[str, "str | None"], ...], tuple[str, ...]]


def tally(result: Result) -> Tally:
    """What :class:`Summary` counts of ``result``, as plain data (a worker process sends it)."""
    return (tuple(dict.fromkeys(rec.setting for rec in result.recommendations if rec.setting)),
            tuple((rec.id, rec.strength) for rec in result.recommendations),
            tuple(dict.fromkeys(m.attribute for m in result.missing)))


@dataclasses.dataclass(eq=False, repr=False)
class Evaluated(Record):
    """One patient's result as a worker process sends it (:mod:`oncologic.pool`): ``text``,
    the ``recommend --format json`` object on one line (exactly ``result.to_json(indent=None)``),
    and its :func:`tally`. :class:`Writer` and :func:`counted` take it as they take a Result."""

    text: str
    tally: Tally


def row_object(row: dict) -> dict:
    """A CSV/Parquet row (:func:`result_row`) back as the ``recommend --format json`` object."""
    return {key: row[key] if key == "patient" else json.loads(row[key]) for key in COLUMNS}


class Writer:
    """Writes results one at a time to ``out`` (a path) or, JSON Lines only, to ``stream``."""

    def __init__(self, fmt: str, out: str | None, stream: IO[str] | None = None, chunk: int = 1000):
        if fmt not in FORMATS:
            raise OncologicError(f"--format {fmt}: a cohort is written as {', '.join(FORMATS)}")
        if fmt == "parquet" and out is None:
            raise OncologicError("--format parquet writes a file: give it with --out FILE")
        self.fmt, self.out, self.chunk = fmt, out, chunk
        self._pending: list[dict] = []
        self._parquet = None
        self._file = None
        if fmt == "parquet":
            from ..records.cohorts import parquet_module
            parquet_module()  # exit 2 naming the extra before anything is evaluated
            self._stream = None
        elif out is None:
            self._stream = stream if stream is not None else sys.stdout
        else:
            try:
                self._file = self._stream = open(out, "w", encoding="utf-8", newline="")
            except OSError as err:
                raise OncologicError(f"cannot write {out}: {err.strerror or err}") from None
        self._csv = csv.DictWriter(self._stream, fieldnames=COLUMNS, lineterminator="\n") if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writeheader()

    def write(self, result: "Result | Evaluated") -> None:
        """Write one patient's result: a :class:`Result`, or an :class:`Evaluated` (its JSON
        text, written as it is; a row is made from it parsed) — the same bytes either way.
        Raises :class:`~oncologic.errors.OncologicError` ``cannot write OUT: REASON`` when the
        output cannot be written (a full disk); a closed pipe on stdout (``BrokenPipeError``)
        passes through, for the CLI to end quietly."""
        try:
            self._write(result)
        except BrokenPipeError:
            raise
        except OSError as err:
            raise self._cannot(err) from None

    def _cannot(self, err: OSError) -> OncologicError:
        reason = os.strerror(err.errno) if err.errno else (err.strerror or str(err))  # pyarrow's strerror is its own
        return OncologicError(f"cannot write {self.out or 'stdout'}: {reason}")

    def _write(self, result: "Result | Evaluated") -> None:
        text = result.text if isinstance(result, Evaluated) else None
        if self.fmt == "jsonl":
            self._stream.write((text if text is not None else result.to_json(indent=None)) + "\n")
            return
        row = _row(json.loads(text)) if text is not None else result_row(result)
        if self.fmt == "csv":
            self._csv.writerow(row)
        else:
            self._pending.append(row)
            if len(self._pending) >= self.chunk:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        schema = pa.schema([(column, pa.string()) for column in COLUMNS])
        if self._parquet is None:
            try:
                self._parquet = pq.ParquetWriter(self.out, schema)
            except OSError as err:
                raise self._cannot(err) from None
            except pa.ArrowException as err:
                raise OncologicError(f"cannot write {self.out}: {err}") from None
        if self._pending:
            self._parquet.write_table(pa.Table.from_pylist(self._pending, schema=schema))
            self._pending = []

    def close(self) -> None:
        """Write what is pending and close the file (a Parquet file with no patient still has
        its columns); a second call does nothing. Raises as :meth:`write` does."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            self._close()
        except BrokenPipeError:
            raise
        except OSError as err:
            raise self._cannot(err) from None

    def _close(self) -> None:
        if self.fmt == "parquet":
            self._flush()
            self._parquet.close()
        elif self._file is not None:
            self._file.close()
        else:
            self._stream.flush()


@dataclasses.dataclass(eq=False, repr=False)
class Summary(Record):
    """Counts over a cohort, one result at a time: ``read`` records, ``evaluated`` (valid)
    and ``bad`` ones; patients per setting (a patient counts once for each setting one of its
    recommendations is in); per recommendation id the patients with it, by strength
    (``strong``, ``moderate``, ``weak``, None); per attribute the patients it is missing for."""

    read: int = 0
    evaluated: int = 0
    bad: int = 0
    settings: Counter = dataclasses.field(default_factory=Counter)
    recommendations: dict = dataclasses.field(default_factory=dict)  # id -> Counter(strength)
    missing: Counter = dataclasses.field(default_factory=Counter)

    def add(self, result: "Result | Evaluated") -> None:
        """Count one patient's result (a :class:`Result` or an :class:`Evaluated`)."""
        settings, recommended, missing = result.tally if isinstance(result, Evaluated) else tally(result)
        self.read += 1
        self.evaluated += 1
        self.settings.update(settings)
        for rid, strength in recommended:
            self.recommendations.setdefault(rid, Counter())[strength] += 1
        self.missing.update(missing)

    def add_bad(self) -> None:
        self.read += 1
        self.bad += 1

    def to_dict(self) -> dict:
        return {"read": self.read, "evaluated": self.evaluated, "bad": self.bad,
                "settings": dict(self.settings.most_common()),
                "recommendations": {rid: {str(s): c[s] for s in STRENGTHS if c[s]}
                                    for rid, c in sorted(self.recommendations.items(),
                                                         key=lambda kv: (-sum(kv[1].values()), kv[0]))},
                "missing": dict(self.missing.most_common())}

    def tables(self, top: int = 10) -> list:
        """The summary as rich tables: counts, settings, recommendations by strength, and the
        ``top`` attributes most often missing."""
        from rich.table import Table
        counts = Table(title="Cohort", title_justify="left")
        for column in ("read", "evaluated", "bad"):
            counts.add_column(column, justify="right")
        counts.add_row(str(self.read), str(self.evaluated), str(self.bad))
        out = [counts]
        if self.settings:
            table = Table(title="Patients per setting", title_justify="left")
            table.add_column("setting")
            table.add_column("patients", justify="right")
            for setting, count in self.settings.most_common():
                table.add_row(setting, str(count))
            out.append(table)
        if self.recommendations:
            table = Table(title="Patients per recommendation, by strength", title_justify="left")
            table.add_column("recommendation")
            for strength in STRENGTHS:
                table.add_column(strength or "none", justify="right")
            table.add_column("total", justify="right")
            for rid, by in self.to_dict()["recommendations"].items():
                table.add_row(rid, *(str(by.get(str(s), 0)) for s in STRENGTHS), str(sum(by.values())))
            out.append(table)
        if self.missing:
            table = Table(title=f"Most often missing (top {top})", title_justify="left")
            table.add_column("attribute")
            table.add_column("patients", justify="right")
            for attribute, count in self.missing.most_common(top):
                table.add_row(attribute, str(count))
            out.append(table)
        return out


def print_summary(summary: Summary, stream: IO[str] | None = None) -> None:
    """The summary tables on ``stream`` (stderr by default)."""
    from rich.console import Console
    console = Console(file=stream if stream is not None else sys.stderr, highlight=False, soft_wrap=False)
    for table in summary.tables():
        console.print(table)


def counted(results: Iterable, summary: Summary, progress: bool, total: int | None = None) -> Iterable:
    """``results`` passed through, each counted in ``summary``; with ``progress``, a rich
    progress bar on stderr (patients read, rate) while they pass."""
    from ..errors import PatientError
    if not progress:
        for item in results:
            summary.add_bad() if isinstance(item, PatientError) else summary.add(item)
            yield item
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    columns = [SpinnerColumn(), TextColumn("patients"), BarColumn() if total else TextColumn(""),
               MofNCompleteColumn() if total else TextColumn("{task.completed}"), TextColumn("bad {task.fields[bad]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task("cohort", total=total, bad=0)
        for item in results:
            summary.add_bad() if isinstance(item, PatientError) else summary.add(item)
            bar.update(task, advance=1, bad=summary.bad)
            yield item
