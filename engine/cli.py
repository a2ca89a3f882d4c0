"""The command line: ``oncologic check | recommend | explain | why-not`` (CONTRACT §3).

Exit status: 0 done (whether or not a goal holds), 2 bad input or usage (a message on stderr,
never a traceback), 1 internal error.
"""
from __future__ import annotations

import functools
import os
import sys
import traceback

import click

from .errors import OncologicError, RuleError

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="text: a readable tree for a person; json: the contract's JSON.")
KB = click.option("--kb", "kb_dir", type=click.Path(file_okay=False), default=None,
                  help="Knowledge-base folder of *.rules files (default: the shipped one).")
AS_OF = click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                     help="For a FHIR Bundle: read the record as of this day (YYYY-MM-DD; default today): "
                          "the most recent observation on or before it counts, later ones are ignored.")
LANG = click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
                    help="Language of text output: en, or zh (explanations and names in Chinese).")


def _fail(message: str, status: int) -> None:
    from .errors import visible
    click.echo(visible(message, keep_newlines=True), err=True)
    sys.exit(status)


def _quiet_exit() -> None:
    """The reader of stdout went away (``| head -1``): exit 0 without a word. stdout is pointed
    at /dev/null so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - no file descriptor to point
        pass
    sys.exit(0)


def guarded(fn):
    """Turn input errors into exit 2 with a message, and anything else into exit 1."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            out = fn(*args, **kwargs)
            sys.stdout.flush()  # a closed pipe shows here, inside the guard
            return out
        except RuleError as err:
            from .report.diagnostics import count_line
            _fail(str(err) + f"\n{count_line(err.diagnostics)}", 2)
        except OncologicError as err:
            _fail(f"error: {err}", 2)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _quiet_exit()
        except Exception as err:  # noqa: BLE001 - the last line of defence
            if os.environ.get("ONCOLOGIC_DEBUG"):
                traceback.print_exc()
            _fail(f"internal error: {type(err).__name__}: {err}\n(set ONCOLOGIC_DEBUG=1 for the traceback; please report it)", 1)
    return wrapper


def _kb(kb_dir):
    from .api import KnowledgeBase
    return KnowledgeBase.load(kb_dir)


def _renderer(kb, lang):
    from .report.text import TextRenderer
    return TextRenderer(kb.compiled, lang)


def _emit_json(model) -> None:
    click.echo(model.to_json(indent=2))


def _patient(kb, patient: str, as_of):
    """The patient of a record file, read as of ``--as-of``; a flat record has no dates to read
    as of a day: it is read as it is, and stderr says so (never silently ignored)."""
    person = kb.patient(patient, as_of=_day(as_of))
    if as_of is not None and not person.provenance:
        click.echo(f"note: --as-of applies to FHIR records; {patient} is a flat record, read as it is", err=True)
    return person


def _day(as_of):
    """``--as-of``'s datetime as a date (None: today, decided by the reader)."""
    return as_of.date() if as_of is not None else None


def _emit_json_with_provenance(model, person) -> None:
    """The contract's JSON, plus (a patient read from FHIR) a top-level ``provenance``: each
    attribute of the record with the resources it came from."""
    if not person.provenance:
        _emit_json(model)
        return
    import json
    data = model.to_dict()
    data["provenance"] = person.provenance
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oncologic")
def main():
    """oncologic: clinical oncology guidelines as logic, with explanations."""


@main.command()
@KB
@FORMAT
@click.option("--strict", is_flag=True, help="Exit 2 on warnings too (CI), not only on errors.")
@click.option("--no-analysis", is_flag=True, help="Skip the static analysis (the W4xx/W5xx warnings).")
@click.option("--patients", "patients", multiple=True, type=click.Path(exists=True),
              help="Patient records (files, folders, .jsonl) whose reach the analysis reports (W505); "
                   "repeatable. Default: examples/patients beside the knowledge-base folder.")
@guarded
def check(kb_dir, fmt, strict, no_analysis, patients):
    """Parse, compile and check the knowledge base: every error and warning of every file, each
    as FILE:LINE:COL: error[CODE]: MESSAGE with its source line; then, when it compiled, the
    static analysis (warnings with a witness patient or a proof). Exit 2 on an error."""
    from .compile.build import diagnose
    compiled, diagnostics = diagnose(kb_dir)
    allowed = None
    if compiled is not None and not no_analysis:
        found = _analysis(compiled, kb_dir, patients)
        diagnostics = sorted([*diagnostics, *found], key=lambda d: (d.file, d.line, d.column))
        allowed = len(found.allowed)
    _report_check(compiled, diagnostics, kb_dir, fmt, strict, allowed)


def _report_check(compiled, diagnostics, kb_dir, fmt: str, strict: bool, allowed: int | None = None) -> None:
    """Print what ``check`` found (text: with an error, the findings on stderr; else ``ok: ...``
    and the warnings on stdout; JSON on stdout) and exit 2 when it found an error (``strict``:
    or a warning). ``allowed``: the number of warnings markers allow, when the analysis ran."""
    from .compile.build import locate
    from .report import diagnostics as report
    if fmt == "json":
        click.echo(report.as_json(compiled, diagnostics, allowed))
    else:
        out, err = report.as_text(compiled, diagnostics, report.Sources(lambda shown: locate(kb_dir, shown)), allowed)
        if err:
            click.echo("\n".join(err), err=True)
        if out:
            click.echo("\n".join(out))
    status = report.exit_status(diagnostics, strict)
    if status:
        sys.stdout.flush()
        sys.exit(status)


def _analysis(compiled, kb_dir, patients):
    """The analysis's warnings; a failure of the analysis itself (a bug) is one more warning,
    W499, not a failed check: the knowledge base compiled."""
    from .analysis import Analysis, analyse
    from .errors import Diagnostic
    try:
        return analyse(compiled, kb_dir, patients=list(patients) or None)
    except OncologicError:
        raise
    except Exception as err:  # noqa: BLE001
        if os.environ.get("ONCOLOGIC_DEBUG"):
            raise
        first = compiled.checked.files[0] if compiled.checked.files else "."
        out = Analysis([Diagnostic(first, 1, 1, f"internal analysis error: {type(err).__name__}: {err} "
                                   "(set ONCOLOGIC_DEBUG=1 for the traceback; please report it)", "warning", "W499")])
        out.allowed = []
        return out


@main.command()
@click.argument("patient", type=click.Path(dir_okay=False))
@KB
@FORMAT
@LANG
@AS_OF
@guarded
def recommend(patient, kb_dir, fmt, lang, as_of):
    """Everything the knowledge base concludes for PATIENT (.json, .yaml, a FHIR R4 Bundle .json, or a
    .jsonl cohort)."""
    from pathlib import Path
    kb = _kb(kb_dir)
    if Path(patient).suffix.lower() == ".jsonl":
        if fmt == "json":
            from .report.cohort import Writer
            write = Writer("jsonl", None).write
        else:
            write = _renderer(kb, lang).result
        bad, stopped = _cohort(kb, patient, lang, write, as_of=_day(as_of))
        _bad_records(patient, bad, stopped)
        return
    res = kb.evaluate(_patient(kb, patient, as_of), lang)
    if fmt == "json":
        _emit_json(res)
    else:
        _renderer(kb, lang).result(res)


def _cohort(kb, path: str, lang: str, write, backend: str | None = None, chunk: int | None = None,
            summary=None, progress: bool = False, workers: int = 1, as_of=None) -> tuple[int, list[str]]:
    """Every record of a cohort (any format :meth:`KnowledgeBase.patients` reads), in order,
    streamed chunk by chunk: ``write(result)`` for each valid one, a message for each bad one
    (stderr, with its file and line or row), each counted in ``summary`` when given (with a
    progress bar on stderr when ``progress``). ``workers`` > 1: evaluated in that many processes
    (:func:`oncologic.pool.pooled`; ``write`` then gets each result as an
    :class:`~oncologic.report.cohort.Evaluated`, its JSON text). Returns the number of bad
    records and the places (``FILE:LINE``, ``FILE row N``) where reading a file stopped early."""
    from .errors import PatientError
    from .errors import visible
    bad = 0
    stopped: list[str] = []
    if workers > 1:
        from .pool import pooled
        items = pooled(kb, path, lang, errors="collect", backend=backend, chunk=chunk, workers=workers, as_of=as_of)
    else:
        items = kb.evaluate_many(path, lang, errors="collect", backend=backend, chunk=chunk, as_of=as_of)
    if summary is not None:
        from .report.cohort import counted
        items = counted(items, summary, progress)
    for item in items:
        if isinstance(item, PatientError):
            bad += 1
            if getattr(item, "stops", False):
                stopped.append(item.source)
            sys.stdout.flush()  # results so far before the message, when both go to one terminal
            click.echo(f"error: {visible(str(item))}", err=True)
        else:
            write(item)
    return bad, stopped


def _bad_records(path: str, bad: int, stopped: list[str] = ()) -> None:
    """Exit 2 after a cohort in which ``bad`` records were bad (reported above); ``stopped``:
    where reading a file stopped early (the records after it there were not read)."""
    if bad:
        sys.stdout.flush()
        if stopped:
            _fail(f"error: {path}: {bad} bad record(s), reported above; reading stopped at {', '.join(stopped)}: "
                  "the records from there to the end of that file were not read", 2)
        _fail(f"error: {path}: {bad} bad record(s), reported above; every other record was evaluated", 2)


@main.command()
@click.argument("patient", type=click.Path(dir_okay=False))
@click.argument("goal")
@KB
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot", "mermaid", "svg"]), default="text",
              show_default=True, help="text: a readable tree; json: the contract's JSON; dot, mermaid, svg: the "
                                      "proof as a picture (green holds, red fails, grey undecided; svg needs Graphviz's dot).")
@LANG
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write a picture (dot, mermaid, svg) to this file instead of stdout.")
@AS_OF
@guarded
def explain(patient, goal, kb_dir, fmt, lang, out, as_of):
    """The proof of GOAL (a recommendation id or a concept name) for PATIENT (a record or a
    FHIR Bundle: then each value used is shown with the resource it came from)."""
    kb = _kb(kb_dir)
    person = _patient(kb, patient, as_of)
    ex = kb.explain(person, goal)
    if fmt == "json":
        _emit_json_with_provenance(ex, person)
    elif fmt in ("dot", "mermaid", "svg"):
        _picture(kb.picture(person, goal, fmt, lang, explanation=ex), out)
    else:
        renderer = _renderer(kb, lang)
        renderer.explanation(ex, person.id, patient)
        renderer.provenance(ex, person.provenance, person.given)


@main.command("why-not")
@click.argument("patient", type=click.Path(dir_okay=False))
@click.argument("goal")
@KB
@FORMAT
@LANG
@AS_OF
@guarded
def why_not(patient, goal, kb_dir, fmt, lang, as_of):
    """Why GOAL does not hold for PATIENT: the failed and the missing conditions."""
    kb = _kb(kb_dir)
    person = _patient(kb, patient, as_of)
    wn = kb.why_not(person, goal)
    if fmt == "json":
        _emit_json_with_provenance(wn, person)
    else:
        renderer = _renderer(kb, lang)
        renderer.why_not(wn, person.id)
        renderer.provenance(wn, person.provenance, person.given)


@main.command()
@KB
@guarded
def datalog(kb_dir):
    """Print the compiled knowledge base as Datalog text."""
    click.echo(_kb(kb_dir).datalog(), nl=False)


@main.command()
@guarded
def schema():
    """Print the JSON Schema of `recommend --format json` output."""
    import json
    from .reason.results import Result
    click.echo(json.dumps(Result.json_schema(), indent=2))


# ---- test ----

@main.command("test")
@click.argument("pattern", required=False)
@KB
@FORMAT
@LANG
@click.option("--coverage-required", is_flag=True,
              help="A rule no test reaches is a failure (exit 1), as a test that fails.")
@click.option("--boundaries", is_flag=True,
              help="Instead of running the tests: patients just below, at and above every threshold a rule "
                   "compares with, from the tests' patients, and the conclusions that flip.")
@click.option("--save", "save", type=click.Path(dir_okay=False), default=None,
              help="With --boundaries: write the boundary patients and their current outcomes as a rule-test file "
                   "(not over an existing file unless --force).")
@click.option("--force", is_flag=True, help="With --save: overwrite FILE if it exists.")
@click.option("-v", "--verbose", is_flag=True, help="A PASS/FAIL line per test (default: a line per test file).")
@guarded
def test_command(pattern, kb_dir, fmt, lang, coverage_required, boundaries, save, force, verbose):
    """Run the rule tests (*.tests.yaml or *.tests.yml beside the rule files) of the test files whose path
    contains PATTERN (when none does: the tests whose name contains it): a line per test file
    (-v: per test), each failing test with the expected and actual sets, the why-not and the
    rules behind what was not expected, then the rules no test reaches (with PATTERN: of the
    .rules files beside the selected test files). Exit 0 all pass, 1 a test fails, 2 bad input."""
    import json
    from .authoring import ruletests
    if save and not boundaries:
        _fail("error: --save goes with --boundaries", 2)
    if force and not save:
        _fail("error: --force goes with --save", 2)
    if save:
        _can_save(save, force)
    kb = _kb(kb_dir)
    if boundaries:
        tests = ruletests.load_tests(kb, kb_dir)
        from .authoring import boundaries as b
        found = b.boundaries(kb, tests, pattern)
        if save:
            try:
                count, bases = b.save(kb, found, save)
            except OSError as err:
                _fail(f"error: cannot write {save}: {err.strerror or err}", 2)
            written = f"{count} test{'s' if count != 1 else ''}" + \
                (f" (and {bases} base patient{'s' if bases != 1 else ''})" if bases else "")
            click.echo(f"wrote {written} to {save} {_saved_where(save, kb_dir)}", err=True)
        click.echo(json.dumps(b.to_dict(found), ensure_ascii=False, indent=2) if fmt == "json" else b.render_text(found))
        return
    try:
        chosen = ruletests.select(kb, kb_dir, pattern)
    except ruletests.TestFileError as err:
        if fmt == "json":
            click.echo(json.dumps({"ok": False, "errors": err.errors()}, ensure_ascii=False, indent=2))
        raise
    for warning in chosen.warnings:
        click.echo(warning, err=True)
    report = ruletests.run(kb, chosen.tests, lang, coverage_required,
                           ruletests.rules_beside(chosen.tests) if pattern else None, chosen.describe())
    click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if fmt == "json" else ruletests.render_text(report, verbose))
    if not report.ok:
        sys.stdout.flush()
        sys.exit(1)


def _can_save(path: str, force: bool) -> None:
    """Exit 2 unless ``path`` can be written: its folder exists, and it does not unless ``force``."""
    import os
    if os.path.exists(path) and not force:
        _fail(f"error: {path} exists; choose another name or pass --force", 2)
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        _fail(f"error: cannot write {path}: no such folder", 2)


def _saved_where(path: str, kb_dir) -> str:
    """How to run a saved test file: inside the knowledge-base folder as *.tests.yaml it is a
    rule-test file `oncologic test` reads; elsewhere it is not."""
    from pathlib import Path
    from .authoring import ruletests
    folder, _ = ruletests.kb_folder(kb_dir)
    saved = Path(path).resolve()
    name = saved.name
    if ruletests.is_test_file(name) and saved.is_relative_to(folder.resolve()):
        kb = f" --kb {kb_dir}" if kb_dir else ""
        return f"(run: oncologic test{kb} {ruletests.stem(name)})"
    return (f"(not run by oncologic test, which reads the *{ruletests.SUFFIX} files inside {kb_dir or 'facts'}; "
            f"run it there as one of them)")


# ---- graph ----

def _picture(text: str, out: str | None) -> None:
    """A picture to stdout, or to ``out`` (a message naming the file when it cannot be written)."""
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        _fail(f"error: cannot write {out}: {err.strerror or err}", 2)


@main.command()
@click.argument("goal", required=False)
@KB
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid", "svg"]), default="dot", show_default=True,
              help="dot: Graphviz DOT text; mermaid: a Mermaid flowchart; svg: drawn by Graphviz's dot program.")
@LANG
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the picture to this file instead of stdout.")
@guarded
def graph(goal, kb_dir, fmt, lang, out):
    """The dependency graph of the knowledge base: concepts, settings, recommendations,
    `do not recommend` statements, contraindications and the attributes they read, one box per
    rule file. With GOAL (a concept, setting, recommendation id or rule id): what GOAL depends
    on, and for a regimen the contraindications and statements that can remove it."""
    from .authoring.graph import kb_graph
    from .report.pictures import render
    _picture(render(kb_graph(_kb(kb_dir).compiled, goal, lang), fmt), out)



# ---- diff ----

@main.command("diff")
@click.argument("old_kb", type=click.Path(file_okay=False))
@click.argument("new_kb", type=click.Path(file_okay=False))
@click.argument("patients", nargs=-1, type=click.Path())
@FORMAT
@LANG
@guarded
def diff_command(old_kb, new_kb, patients, fmt, lang):
    """The rules added, removed and changed from OLD_KB to NEW_KB (knowledge-base folders), the
    declarations that changed meaning, and for PATIENTS (record files, folders of them, .jsonl
    cohorts) the conclusions that change, with the rule change that caused each. Exit 0 whether
    or not they differ (a record valid under one knowledge base only is a difference); 2 for a
    bad knowledge base (its errors as `check` prints them), a patient path that does not exist,
    or a record invalid under both (after the whole report, which lists it). See docs/diff.md."""
    import json
    from pathlib import Path
    from .compile.build import diagnose
    for path in patients:
        if not Path(path).exists():
            _fail(f"error: {path}: no such patient file or folder", 2)
    compiled = []
    for kb_dir in (old_kb, new_kb):
        built, diagnostics = diagnose(kb_dir)
        if built is None:
            _report_check(built, diagnostics, kb_dir, "text", False)  # the errors on stderr, exit 2
            _fail(f"error: {kb_dir}: the knowledge base has errors", 2)  # pragma: no cover - exited above
        compiled.append(built)
    from .authoring.diff import diff, render_text
    found = diff(compiled[0], compiled[1], patients, old_kb, new_kb)
    if fmt == "json":
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
    else:
        checked = compiled[1].checked
        old_checked = compiled[0].checked
        click.echo("\n".join(render_text(found, lang, lambda name, lg: checked.label(name, lg) or old_checked.label(name, lg))))
    if found.errors:  # CONTRACT §1: an invalid record is bad input; the report above still lists every one
        sys.stdout.flush()
        n = len(found.errors)
        _fail(f"error: {n} record{'s' if n != 1 else ''} invalid under both knowledge bases or unreadable "
              f"(listed in the report{': errors' if fmt == 'json' else ''})", 2)

# ---- lsp ----

@main.command()
@click.option("--stdio", is_flag=True, help="Talk LSP over stdin/stdout (the default and only transport; "
                                             "accepted because editors pass it).")
def lsp(stdio):
    """Run the language server for rule files over stdin/stdout (diagnostics as you type, hover,
    go to definition, completion). Needs pygls: pip install 'oncologic[lsp]'."""
    try:
        from .authoring import lsp as server
    except ImportError as err:
        if (err.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        _fail("error: the language server needs pygls, which is not installed: "
              "pip install 'oncologic[lsp]' (or pip install 'pygls>=2,<3')", 2)
    server.main()


# ---- cohort ----

@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@KB
@click.option("--backend", default="duckdb", show_default=True,
              help="The engine that evaluates the cohort: duckdb, spark or pydatalog (any registered backend).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the results to this file (default: JSON Lines on stdout); a .jsonl, .csv or .parquet "
                   "suffix sets the format.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet", "csv", "text", "json"]), default=None,
              help="jsonl (default), parquet (needs --out) or csv: a line or row per patient. With --explain: "
                   "text (default) or json.")
@LANG
@click.option("--explain", "explain_id", metavar="ID", default=None,
              help="Do not evaluate the cohort: find the record with this id and print, from pyDatalog, its report "
                   "with the proof of each recommendation (with --goal: the proof of GOAL, or why not).")
@click.option("--goal", default=None, help="With --explain: a recommendation id, concept or rule id to explain.")
@click.option("--spark-master", "spark_master", metavar="URL", default=None,
              help="With --backend spark: the cluster's master URL (spark://HOST:7077, yarn, local[4]).")
@click.option("--spark-mode", "spark_mode", type=click.Choice(["partitioned", "sql"]), default=None,
              help="With --backend spark: partitioned (default: Spark spreads the patients, DuckDB evaluates each "
                   "partition) or sql (the program as Spark SQL: minutes of fixed cost per batch).")
@click.option("--spark-partitions", "spark_partitions", type=click.IntRange(min=1), default=None,
              help="With --backend spark (partitioned): partitions per batch (default: Spark's default parallelism).")
@click.option("--chunk", type=click.IntRange(min=1), default=None,
              help="Patients per engine query (default: the backend's own batch size).")
@click.option("--no-progress", "no_progress", is_flag=True, help="No progress bar on stderr (shown only on a terminal).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that evaluate the cohort (default 1: in this process; idle cores make more worth it, "
                   "not with --backend spark, which has its own executors).")
@guarded
@AS_OF
def cohort(input_path, kb_dir, backend, out, fmt, lang, explain_id, goal, spark_master, spark_mode, spark_partitions,
           chunk, no_progress, workers, as_of):
    """Evaluate a cohort: INPUT is .jsonl, a .json array, .csv (a header of attribute names), .parquet, a
    folder of .parquet files, a FHIR bulk export (a folder of .ndjson files), a FHIR Bundle file or FHIR Bundles
    in .jsonl (a record a patient, as of --as-of, default today). Each output line or row is the patient's `recommend --format json` object;
    a summary table (patients, settings, recommendations by strength, missing attributes) goes to stderr.
    Bad records are reported with their line or row and skipped; exit 2 at the end if there was one.
    Ctrl-C stops it (and its worker processes) with exit 130. See README, "Cohorts"."""
    if goal is not None and explain_id is None:
        _fail("error: --goal goes with --explain ID", 2)
    spark = {"master": spark_master, "mode": spark_mode, "partitions": spark_partitions}
    for option, value in spark.items():
        if value is not None and backend != "spark":
            _fail(f"error: --spark-{option} goes with --backend spark", 2)
    spark = {option: value for option, value in spark.items() if value is not None}
    if explain_id is not None:
        if fmt not in (None, "text", "json", "jsonl"):
            _fail(f"error: --explain prints one patient's explanation as text or json, not {fmt}", 2)
        if out is not None:
            _fail("error: --explain prints on stdout; --out goes with a cohort run", 2)
        _cohort_explain(kb_dir, input_path, explain_id, goal, fmt or "text", lang, _day(as_of))
        return
    if fmt in ("text", "json"):
        _fail(f"error: --format {fmt} goes with --explain; a cohort is written as jsonl, parquet or csv", 2)
    if out is not None:
        _refuse_out_over_input(input_path, out)
        fmt = _format_of_out(out, fmt)
    from .api import KnowledgeBase
    from .report.cohort import Summary, Writer, print_summary
    kb = KnowledgeBase.load(kb_dir, backend, spark or None)
    if workers is None:  # opt-in: on a loaded 2-core machine two workers were slower than one (README)
        workers = 1
    writer = Writer(fmt or "jsonl", out)
    summary = Summary()
    written = 0

    def write(result) -> None:
        nonlocal written
        writer.write(result)
        written += 1

    try:
        bad, stopped = _cohort(kb, input_path, lang, write, chunk=chunk, summary=summary,
                               progress=not no_progress and sys.stderr.isatty(), workers=workers, as_of=_day(as_of))
    except KeyboardInterrupt:  # Ctrl-C: what was written is kept, whole lines or rows
        writer.close()
        sys.stdout.flush()
        unit = "lines" if (fmt or "jsonl") == "jsonl" else "rows"
        _fail(f"interrupted: {written} results written to {out or 'stdout'} (complete {unit} only)", 130)
    finally:
        writer.close()
    sys.stdout.flush()
    print_summary(summary)
    _bad_records(input_path, bad, stopped)


def _refuse_out_over_input(input_path: str, out: str) -> None:
    """Exit 2, before anything is opened, when ``--out`` names the cohort being read: the same
    file (a link or another spelling of it included), or a .parquet file inside the input
    folder (it would be read while written)."""
    from pathlib import Path
    source, target = Path(input_path), Path(out)
    try:
        same = target.exists() and source.exists() and os.path.samefile(source, target)
    except OSError:
        same = False
    resolved_in, resolved_out = source.resolve(), target.resolve()
    same = same or resolved_in == resolved_out
    inside = source.is_dir() and resolved_out.is_relative_to(resolved_in) and target.suffix.lower() == ".parquet"
    if same or inside:
        how = "is the input file" if same else "is inside the input folder, whose .parquet files are read"
        _fail(f"error: --out {out} {how} {input_path}; write the results to another file", 2)


def _format_of_out(out: str, fmt: str | None) -> str | None:
    """The output format: ``--format``, else the suffix of ``--out`` (.jsonl, .csv, .parquet,
    any case); exit 2 when the two disagree."""
    from pathlib import Path
    suffix = Path(out).suffix.lower()
    by_suffix = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(suffix)
    if fmt is not None and by_suffix is not None and fmt != by_suffix:
        _fail(f"error: --format {fmt} contradicts --out {out} (a {suffix} file is {by_suffix}); "
              "give a matching suffix or leave --format out", 2)
    return fmt or by_suffix


def _cohort_explain(kb_dir, path: str, pid: str, goal: str | None, fmt: str, lang: str, as_of=None) -> None:
    """``cohort --explain ID``: the record with id ``pid`` re-run on pyDatalog (explanations
    always are). With ``goal``: its proof when it holds, else why not; without: the patient's
    report and the proof of each recommendation. Exit 2 when no readable record has that id."""
    import json
    from .api import KnowledgeBase
    from .errors import PatientError
    from .records.cohorts import read_cohort
    from .records.patient import validate
    kb = KnowledgeBase.load(kb_dir)  # the default backend, pyDatalog
    unread = 0
    for where, line, raw in read_cohort(path, kb.compiled.checked, as_of=as_of):
        if isinstance(raw, PatientError) or not isinstance(raw, dict):
            unread += 1
            continue
        if raw.get("id") is not None and str(raw.get("id")) == pid:
            person = validate(raw, kb.compiled.checked, where, line=line)  # a bad record: exit 2 naming it
            break
    else:
        also = f" ({unread} record(s) could not be read: `oncologic cohort {path}` reports them)" if unread else ""
        _fail(f"error: {path}: no record has the id {pid!r}{also}", 2)
    indent = 2 if fmt == "json" else None
    if goal is not None:
        ex = kb.explain(person, goal)
        shown = ex if ex.holds is True else kb.why_not(person, goal)
        if fmt != "text":
            click.echo(shown.to_json(indent=indent))
        elif shown is ex:
            _renderer(kb, lang).explanation(ex, person.id, where)
        else:
            _renderer(kb, lang).why_not(shown, person.id)
        return
    res = kb.evaluate(person, lang)
    proofs = [(rec.id, kb.explain(person, rec.id)) for rec in res.recommendations]
    if fmt != "text":
        click.echo(json.dumps({"patient": person.id, "source": where, "result": res.to_dict(),
                               "proofs": {rid: ex.to_dict() for rid, ex in proofs}}, ensure_ascii=False, indent=indent))
        return
    renderer = _renderer(kb, lang)
    renderer.result(res)
    for _, ex in proofs:
        renderer.explanation(ex, person.id, where)



# ---- serve ----

INSECURE_WARNING = """\
WARNING: --insecure-dev: this service accepts requests WITHOUT authentication.
WARNING: any program that reaches {url} can send patient data and read the cards.
WARNING: for local trials only; a deployment verifies the CDS client's JWT (--jwks or --key)."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the line 'listening on URL' names it).")
@KB
@click.option("--jwks", default=None, metavar="FILE_OR_URL",
              help="The CDS clients' JWK Set (a JSON file, or an http(s) URL read and cached) that verifies their JWTs.")
@click.option("--key", "key_file", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="A PEM public key (RSA for RS384, EC P-384 for ES384) that verifies the clients' JWTs.")
@click.option("--issuer", "issuers", multiple=True, metavar="ISS",
              help="A trusted token issuer (iss); repeatable. Default: any issuer whose token the keys verify.")
@click.option("--base-url", default=None, metavar="URL",
              help="The service's public URL (behind a proxy): the tokens' audience and the base of the cards' "
                   "links. Default: the URL it listens on (required with --jwks/--key on 0.0.0.0 or ::).")
@click.option("--insecure-dev", is_flag=True,
              help="Accept requests without a token (local trials only; a loud warning is printed).")
@click.option("--max-body", "max_body_mib", default=32, show_default=True, type=click.IntRange(1, 1024), metavar="MIB",
              help="The largest request body, in MiB (a hook's prefetch holds the patient's resources); "
                   "a larger one is refused with 413.")
@guarded
def serve(host, port, kb_dir, jwks, key_file, issuers, base_url, insecure_dev, max_body_mib):
    """The CDS Hooks 2.0 service: discovery at /cds-services, the hooks patient-view and
    order-select, feedback, and an explanation page per card (/explain/REF/GOAL)."""
    try:
        import fastapi  # noqa: F401
        import jwt  # noqa: F401
        import uvicorn
    except ImportError as err:
        _fail(f"error: oncologic serve needs the server extra ({err.name or err} is missing): "
              "pip install oncologic[server]", 2)
    if jwks and key_file:
        _fail("error: give --jwks or --key, not both", 2)
    if insecure_dev and (jwks or key_file):
        _fail("error: --insecure-dev accepts requests without a token; it contradicts --jwks/--key", 2)
    if not (insecure_dev or jwks or key_file):
        _fail("error: oncologic serve verifies each CDS client's JWT (CDS Hooks 2.0): give the clients' keys "
              "with --jwks FILE_OR_URL or --key FILE, or --insecure-dev for a local trial without authentication", 2)
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        _fail(f"error: --base-url {base_url!r}: expected an absolute http(s) URL", 2)
    from .service.app import create_app
    from .service.auth import KeyConfigError, Verifier
    verifier = None
    if not insecure_dev:
        try:
            verifier = Verifier(jwks=jwks, key=key_file, issuers=tuple(issuers))
        except KeyConfigError as err:
            _fail(f"error: {err}", 2)
    kb = _kb(kb_dir)
    sock = _listen(host, port)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{sock.getsockname()[1]}"
    # The tokens' audience and the cards' links come from this configured URL, never from a
    # request's Host header (a token for another deployment replayed with its Host would pass).
    if base_url is None and host not in ("0.0.0.0", "::", ""):
        base_url = url
    elif base_url is None and not insecure_dev:
        _fail(f"error: --host {host} listens on every address: give --base-url URL, the address the CDS "
              "clients call (their tokens' audience)", 2)
    app = create_app(kb, verifier, base_url, insecure_dev, max_body=max_body_mib * 1024 * 1024)
    if insecure_dev:
        click.echo(INSECURE_WARNING.format(url=url), err=True)
    click.echo(f"oncologic serve: listening on {url} (discovery: {url}/cds-services)", err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, server_header=False))
    server.run(sockets=[sock])


def _listen(host: str, port: int):
    """A listening socket on host:port, or exit 2 naming why not (address in use, unknown host)."""
    import socket
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        _fail(f"error: cannot listen on {host}:{port}: {err.strerror or err}", 2)
    sock.set_inheritable(True)
    return sock

if __name__ == "__main__":  # pragma: no cover
    main()
