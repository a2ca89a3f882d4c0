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
            _fail(str(err) + f"\n{len(err.diagnostics)} error(s)", 2)
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oncologic")
def main():
    """oncologic: clinical oncology guidelines as logic, with explanations."""


@main.command()
@KB
@FORMAT
@click.option("--no-analysis", is_flag=True, help="Skip the static analysis (the W4xx/W5xx warnings).")
@click.option("--patients", "patients", multiple=True, type=click.Path(exists=True),
              help="Patient records (files, folders, .jsonl) whose reach the analysis reports (W505); "
                   "repeatable. Default: examples/patients beside the knowledge-base folder.")
@guarded
def check(kb_dir, fmt, no_analysis, patients):
    """Parse, compile and check the knowledge base."""
    import json
    from .compile.build import load_compiled
    try:
        compiled = load_compiled(kb_dir)
    except RuleError as err:
        if fmt == "json":
            click.echo(json.dumps({"ok": False, "errors": [d.__dict__ for d in err.diagnostics]}, ensure_ascii=False, indent=2))
            sys.exit(2)
        raise
    checked = compiled.checked
    summary = {"ok": True, "files": len(checked.files), "attributes": len(checked.attributes), "items": len(checked.items),
               "concepts": len(checked.concepts), "rules": len(checked.rules), "clauses": len(compiled.program.clauses)}
    warnings = None
    if not no_analysis:
        warnings = _analysis(compiled, kb_dir, patients)
    if fmt == "json":
        if warnings is not None:
            summary["warnings"] = [d.to_json() for d in warnings]
            summary["allowed"] = len(warnings.allowed)
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        click.echo(f"ok: {summary['files']} files, {summary['attributes']} attributes, {summary['items']} items, "
                   f"{summary['concepts']} concepts, {summary['rules']} rules, {summary['clauses']} Datalog clauses")
        if warnings is not None:
            _print_warnings(warnings)


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
        out = Analysis([Diagnostic(checked_file(compiled), 1, 1, f"internal analysis error: {type(err).__name__}: {err} "
                                   "(set ONCOLOGIC_DEBUG=1 for the traceback; please report it)", "warning", "W499")])
        out.allowed = []
        return out


def checked_file(compiled) -> str:
    return compiled.checked.files[0] if compiled.checked.files else "."


def _print_warnings(warnings) -> None:
    """Each warning, its witness (compact JSON) and its proof on indented lines; a count."""
    from .analysis import compact
    from .errors import visible
    for d in warnings:
        click.echo(str(d))
        if d.witness is not None:
            click.echo(f"  witness: {visible(compact(d.witness))}")
        if d.proof:
            click.echo(f"  proof: {visible(d.proof)}")
    allowed = f" ({len(warnings.allowed)} allowed)" if warnings.allowed else ""
    click.echo(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}{allowed}")


@main.command()
@click.argument("patient", type=click.Path(dir_okay=False))
@KB
@FORMAT
@LANG
@guarded
def recommend(patient, kb_dir, fmt, lang):
    """Everything the knowledge base concludes for PATIENT (.json, .yaml, or .jsonl cohort)."""
    from pathlib import Path
    kb = _kb(kb_dir)
    if Path(patient).suffix.lower() == ".jsonl":
        _cohort(kb, patient, fmt, lang)
        return
    res = kb.evaluate(patient, lang)
    if fmt == "json":
        _emit_json(res)
    else:
        _renderer(kb, lang).result(res)


def _cohort(kb, path: str, fmt: str, lang: str) -> None:
    """Every record of a JSON Lines cohort, in order: a result for each valid one (stdout: one
    JSON object a line, or the text report), a message for each bad one (stderr, with its line);
    exit 2 after the last record if any was bad."""
    from .errors import PatientError
    from .errors import visible
    renderer = _renderer(kb, lang) if fmt == "text" else None
    bad = 0
    for item in kb.evaluate_many(path, lang, errors="collect"):
        if isinstance(item, PatientError):
            bad += 1
            sys.stdout.flush()  # results so far before the message, when both go to one terminal
            click.echo(f"error: {visible(str(item))}", err=True)
        elif fmt == "json":
            click.echo(item.to_json(indent=None))
        else:
            renderer.result(item)
    if bad:
        sys.stdout.flush()
        _fail(f"error: {path}: {bad} bad record(s), reported above; every other record was evaluated", 2)


@main.command()
@click.argument("patient", type=click.Path(dir_okay=False))
@click.argument("goal")
@KB
@FORMAT
@LANG
@guarded
def explain(patient, goal, kb_dir, fmt, lang):
    """The proof of GOAL (a recommendation id or a concept name) for PATIENT."""
    kb = _kb(kb_dir)
    person = kb.patient(patient)
    ex = kb.explain(person, goal)
    if fmt == "json":
        _emit_json(ex)
    else:
        _renderer(kb, lang).explanation(ex, person.id, patient)


@main.command("why-not")
@click.argument("patient", type=click.Path(dir_okay=False))
@click.argument("goal")
@KB
@FORMAT
@LANG
@guarded
def why_not(patient, goal, kb_dir, fmt, lang):
    """Why GOAL does not hold for PATIENT: the failed and the missing conditions."""
    kb = _kb(kb_dir)
    person = kb.patient(patient)
    wn = kb.why_not(person, goal)
    if fmt == "json":
        _emit_json(wn)
    else:
        _renderer(kb, lang).why_not(wn, person.id)


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


if __name__ == "__main__":  # pragma: no cover
    main()
