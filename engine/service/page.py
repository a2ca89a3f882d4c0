"""The explanation page a card links to: one goal for one patient, as HTML, in English or Chinese.

In: the knowledge base, a kept hook request (:class:`.store.Visit`: the record and the FHIR
provenance of its values), a goal and a language. Out: a complete HTML document — the verdict,
the proof (a goal that holds) or the why-not (one that does not), the patient's values with the
resource each came from, and the picture of the proof (Graphviz's SVG as an ``<img>`` data URI, so
nothing in it can run). Every text from a record or a rule file goes through :func:`html.escape`;
the page loads nothing from anywhere (its Content-Security-Policy, :func:`policy`, allows only its
own style block and data: images).
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import time

from ..report.catalogue import catalogue
from ..report.pictures import Names, PictureError
from .store import TTL, Visit

STYLE_BASE = """
body { font-family: system-ui, "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; margin: 1.5rem auto; max-width: 70rem;
       padding: 0 1rem; color: #1b1f23; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; border-bottom: 1px solid #d0d7de; }
.verdict { font-size: 1.15rem; padding: .5rem .8rem; border-radius: 6px; display: inline-block; }
.holds { background: #dafbe1; } .fails { background: #ffebe9; } .undecided { background: #fff8c5; }
pre.proof { background: #f6f8fa; padding: .8rem; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .85rem; line-height: 1.35;
            font-family: "DejaVu Sans Mono", "Noto Sans Mono CJK SC", monospace; }
table { border-collapse: collapse; } td, th { border: 1px solid #d0d7de; padding: .25rem .6rem; text-align: left; }
img.picture { max-width: 100%; border: 1px solid #d0d7de; }
.meta { color: #57606a; font-size: .85rem; }
"""


def policy(style: str) -> str:
    """The page's Content-Security-Policy: no script, no fetch, its one style block by hash."""
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; base-uri 'none'; "
            "form-action 'none'")


def render(kb, visit: Visit, goal: str, lang: str, other_language_url: str) -> tuple[str, str]:
    """The page (HTML text) and its Content-Security-Policy. Raises GoalError for an unknown
    goal and PatientError for a record the knowledge base no longer accepts."""
    from rich.console import Console
    from ..report.text import TextRenderer
    say = catalogue(lang)["service"]
    person = kb.patient(visit.record, source=f"hook request {visit.hook_instance}")
    ex = kb.explain(person, goal)
    console = Console(record=True, file=io.StringIO(), width=120, force_terminal=True, color_system="truecolor",
                      highlight=False, soft_wrap=False, emoji=False)
    renderer = TextRenderer(kb.compiled, lang, console)
    if ex.holds:
        renderer.explanation(ex, person.id)
        heading = say["page_proof"]
    else:
        renderer.why_not(kb.why_not(person, goal), person.id)
        heading = say["page_why_not"]
    exported = console.export_html(code_format="{stylesheet}\x00{code}", inline_styles=False)
    rich_style, proof_html = exported.split("\x00", 1)
    style = STYLE_BASE + rich_style.replace("\n", " ")
    names = Names(kb.compiled.checked, lang)
    shown_goal = names.regimen(goal)
    e = html.escape
    title = say["page_title"].format(goal=shown_goal, patient=person.id)
    verdict = say["verdict"].get(ex.verdict, ex.verdict)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title><style>{style}</style></head><body>",
        f'<p class="meta"><a href="{e(other_language_url)}" id="other-language">{e(say["page_other_language"])}</a></p>',
        f'<h1 id="title">{e(title)}</h1>',
        f'<p>{e(say["page_verdict"])}: <span id="verdict" class="verdict {e(ex.verdict)}">{e(shown_goal)} — {e(verdict)}</span>'
        f' <code id="goal">{e(goal)}</code></p>',
        f'<h2>{e(heading)}</h2><pre class="proof" id="proof">{proof_html}</pre>',
        f'<h2>{e(say["page_values"])}</h2>', _values(kb, visit, lang),
        f'<h2>{e(say["page_picture"])}</h2>', _picture(kb, person, goal, lang, ex, say),
        '<p class="meta">' + e(say["page_generated"].format(
            hook=visit.hook_instance, time=time.strftime("%Y-%m-%d %H:%M", time.gmtime(visit.created)),
            minutes=TTL // 60)) + "</p>",
        "</body></html>",
    ]
    return "\n".join(parts), policy(style)


def _values(kb, visit: Visit, lang: str) -> str:
    """The record's attributes (labelled in ``lang``), their values as written (enum values and
    items labelled, units in words in Chinese), and where each came from."""
    from ..report.words import Words
    say = catalogue(lang)["service"]
    checked = kb.compiled.checked
    words = Words(lang, checked.label, checked.value_label)
    e = html.escape
    rows = [f'<table id="values"><tr><th>{e(say["page_attribute"])}</th><th>{e(say["page_value"])}</th>'
            f'<th>{e(say["page_from"])}</th></tr>']
    for name, value in visit.record.items():
        label = checked.label(name, lang) if lang != "en" else None
        shown = f"{label} ({name})" if label and label != name else name
        attribute = checked.attributes.get(name)
        kind = attribute.type.kind if attribute is not None else None
        rows.append(f"<tr><td>{e(shown)}</td><td>{e(_value(words, name, kind, value))}</td>"
                    f"<td>{e(_provenance(visit.provenance.get(name)))}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _value(words, name: str, kind, value) -> str:
    """A record's value as its author wrote it, in the page's language."""
    if isinstance(value, list):
        return words.empty() if not value else words.phrase["sep"].join(_value(words, name, kind, v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return words.value(value)
    if isinstance(value, str) and kind in ("enum", "set", "item_set"):
        return words.enum(value, name)
    if isinstance(value, str) and kind in ("duration", "percent", "length"):
        return words.written(value)
    return str(value)


def _provenance(found) -> str:
    """Where a value came from, as the FHIR reader describes it (text, or a list of them)."""
    if found is None:
        return ""
    if isinstance(found, (list, tuple)):
        return "; ".join(_provenance(f) for f in found)
    if isinstance(found, dict):
        return json.dumps(found, ensure_ascii=False, sort_keys=True)
    return str(found)


def _picture(kb, person, goal: str, lang: str, ex, say: dict) -> str:
    try:
        svg = kb.picture(person, goal, "svg", lang, explanation=ex)
    except PictureError:
        return f'<p id="picture-missing">{html.escape(say["page_no_picture"])}</p>'
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    alt = html.escape(say["page_picture"])
    return f'<img class="picture" id="picture" alt="{alt}" src="data:image/svg+xml;base64,{data}">'


def other_language(lang: str) -> str:
    return "en" if lang == "zh" else "zh"

