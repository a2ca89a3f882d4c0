"""The text report of `recommend` (issue 11): a summary line first, one entry per id, the open
questions ranked with exactly the recommendations each decides, every possible entry once."""
from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from oncologic.report.text import TextRenderer

from support import example_files, lung

QUESTION = re.compile(r"^  (\d+)\. Record (\S+) → decides (\d+)(?: \(listed above: (.*)\):|:|, listed above: (.*))$")
ENTRY = re.compile(r"^      (?:\? ✘|[?✔]) (\S+)")


def render(kb, res, lang="en") -> list[str]:
    console = Console(width=100_000, file=io.StringIO(), record=True, highlight=False)
    TextRenderer(kb.compiled, lang, console).result(res)
    return console.export_text().splitlines()


def questions(lines):
    """{attribute: (count shown, [ids listed under it], [ids 'shown above'])} in order."""
    found, current = {}, None
    start = lines.index("Open questions (record these to decide the possible options)") if \
        "Open questions (record these to decide the possible options)" in lines else len(lines)
    for line in lines[start + 1:]:
        if m := QUESTION.match(line):
            current = m.group(2)
            above = m.group(4) or m.group(5)
            found[current] = (int(m.group(3)), [], above.split(", ") if above else [])
        elif current and (m := ENTRY.match(line)):
            found[current][1].append(m.group(1))
    return found


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_every_count_agrees_with_its_list_and_every_entry_is_shown_once(kb, path):
    res = kb.evaluate(path)
    lines = render(kb, res)
    recommended = [m.group(1) for line in lines if (m := re.search(r"✔ (\S+)  ", line))]
    assert sorted(recommended) == sorted(rec.id for rec in res.recommendations)  # once each
    assert len(set(recommended)) == len(recommended)
    shown = questions(lines)
    deciding = [m for m in res.missing if m.recommendations]
    assert list(shown) == [m.attribute for m in deciding]  # ranked as the JSON ranks them
    listed = []
    for m in deciding:
        count, under, above = shown[m.attribute]
        assert count == len(m.recommendations) == len(under) + len(above)
        assert sorted(under + above) == sorted(m.recommendations)
        assert set(above) <= set(listed)  # "shown above" means it
        listed += under
    assert len(listed) == len(set(listed))  # each possible entry once
    assert {p.id for p in res.possible} <= set(listed) | {p.id for p in res.possible if not any(
        p.id in m.recommendations for m in deciding)}
    placed_elsewhere = [line for line in lines if line.startswith("  ? ")]  # possible without a named question
    assert len(placed_elsewhere) == len({p.id for p in res.possible} - set(listed))


def test_summary_line_names_settings_and_counts(kb):
    res = kb.evaluate("examples/patients/sclc_second_line.json")
    lines = render(kb, res)
    strong = sum(r.strength == "strong" for r in res.recommendations)
    assert lines[1] == (f"refractory SCLC, second line; refractory lung cancer — {len(res.recommendations)} option(s), {strong} strong; "
                        "1 question(s) open")
    zh = render(kb, res, "zh")
    assert zh[1].startswith("难治性SCLC（二线）；难治性肺癌——") and f"{len(res.recommendations)} 个方案" in zh[1]


def test_question_ranking_and_placement_for_a_record_without_driver_status(kb):
    res = kb.evaluate(lung(id="p", histology="adenocarcinoma", line=2, ecog=1, progression="extensive",
                           prior_therapies=["pembrolizumab", "carboplatin", "pemetrexed"]))
    shown = questions(render(kb, res))
    first = next(iter(shown))
    assert first == "mutations"  # it decides the most
    count, under, above = shown["mutations"]
    assert count == len(under) and "bronchoscopic_intervention" in under
    assert shown["central_airway_stenosis"] == (1, [], ["bronchoscopic_intervention"])


def test_no_setting_heading_is_words_not_a_dash(kb):
    res = kb.evaluate("examples/patients/hcc_ae_haic_grade2.yaml")
    lines = render(kb, res)
    assert not any(line.strip().endswith("── -") for line in lines)
    if any(rec.setting is None for rec in res.recommendations):
        assert any("(no setting)" in line for line in lines)


def test_json_carries_notes_and_reasons_in_the_language_asked_for(kb):
    """The JSON's `notes`/`reason` stay English (the contract's text); `localized_notes` and
    `localized_reason` give them in the language asked for, from the rule's `note en ... zh ...`."""
    path = "examples/patients/sclc_second_line.json"
    en, zh = kb.evaluate(path, "en"), kb.evaluate(path, "zh")
    organoid = next(r for r in zh.recommendations if r.id == "organoid_drug_screening")
    assert organoid.notes == ["with the patient's informed consent, as a reference for later drug choice"]
    assert organoid.localized_notes == ["在患者知情同意下进行，为后续用药提供参考"]
    for rec in en.recommendations:
        assert rec.localized_notes == rec.notes
    for item in zh.not_recommended + zh.possibly_not_recommended:
        assert item.reason is None or (item.localized_reason and len(item.localized_notes) == len(item.notes))
        assert item.localized_reason is None or not any("a" <= ch.lower() <= "z" for ch in item.localized_reason[:4])


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_what_a_question_decides_is_an_entry_that_needs_it_and_no_line_repeats(kb, path):
    res = kb.evaluate(path)
    needs = {(a, p.id) for p in res.possible for a in p.missing}
    needs |= {(a, rec.id) for rec in res.recommendations for item in rec.pending for a in item.missing}
    needs |= {(a, m.id) for m in res.possibly_not_recommended for a in m.missing}
    for m in res.missing:
        for ident in m.recommendations:
            assert (m.attribute, ident) in needs, (m.attribute, ident)
    lines = render(kb, res)
    start = next((i for i, line in enumerate(lines) if line.startswith("Open questions")), len(lines))
    section = [line for line in lines[start:] if line.strip() and not line.startswith("        ")]
    assert len(section) == len(set(section))  # no question or entry line repeats (a flag under each may)


def test_a_possible_regimen_already_received_is_flagged(kb):
    res = kb.evaluate(lung(id="p", histology="sclc", line=2, ecog=1,
                           prior_therapies=["lurbinectedin", "atezolizumab", "carboplatin", "etoposide"]))
    lurbi = next(p for p in res.possible if p.id == "lurbinectedin")  # no tfi: refractory is undecided
    assert [(f.kind, f.detail) for f in lurbi.flags] == [
        ("already_received", {"attribute": "prior_therapies", "items": ["lurbinectedin"]})]
    assert lurbi.recommendation.flags == lurbi.flags
    assert any("⚑ already received (prior_therapies: lurbinectedin)" in line for line in render(kb, res))
