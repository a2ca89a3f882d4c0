"""The explanation page a card links to, opened in a real headless Chromium (the Debian package,
driven by Playwright): what it shows in English and Chinese, that it loads nothing from anywhere
else and runs no script, and that text from the record cannot become markup. Screenshots are
written to /tmp/oncologic_explain_{en,zh}.png. Skips where /usr/bin/chromium is absent."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from serving import PATIENT_VIEW, dev, patient_view, prefetch_of, record  # noqa: F401 (dev: a fixture)
from support import ROOT

CHROMIUM = os.environ.get("ONCOLOGIC_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def _link(dev, patient: dict | None, goal: str, lang: str = "en", body: dict | None = None) -> str:
    got = dev.post(f"/cds-services/{PATIENT_VIEW}?lang={lang}", json=body or patient_view(patient))
    assert got.status_code == 200, got.text
    urls = [c["links"][0]["url"] for c in got.json()["cards"] if c["links"][0]["url"].split("?")[0].endswith("/" + goal)]
    assert len(urls) == 1, goal
    return urls[0]


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    seen = {"requests": [], "console": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("console", lambda message: seen["console"].append(message.text))
    response = page.goto(url)
    assert response.status == 200
    return page, seen


def test_the_explanation_page_in_english_and_chinese(browser, dev):
    url = _link(dev, record("sclc_second_line.json"), "anlotinib+irinotecan")
    page, seen = _open(browser, url)
    assert page.title() == "anlotinib + irinotecan: explanation for patient pt-sclc-2l"
    assert page.inner_text("#verdict") == "anlotinib + irinotecan — holds"
    proof = page.inner_text("#proof")
    assert proof.startswith("✔ anlotinib+irinotecan holds for patient pt-sclc-2l")
    assert "rule sclc.second_line.anti_angiogenic_chemo (facts/lung/sclc.rules:" in proof
    assert "tfi < 90 d (patient: 45 d)" in proof
    rows = page.eval_on_selector_all("#values tr", "rows => rows.map(r => r.innerText.split('\\t').map(s => s.trim()))")
    assert ["tfi", "45d", ""] in rows and ["ecog", "1", ""] in rows
    if shutil.which("dot"):
        assert page.eval_on_selector("#picture", "img => img.complete && img.naturalWidth > 100")
    page.screenshot(path="/tmp/oncologic_explain_en.png", full_page=True)
    assert [u for u in seen["requests"] if not u.startswith((url.split("/explain/")[0], "data:"))] == []
    assert seen["console"] == []  # no CSP violation, no script error
    page.click("#other-language")
    assert page.title() == "安罗替尼 + 伊立替康：患者 pt-sclc-2l 的解释"
    assert page.inner_text("#verdict") == "安罗替尼 + 伊立替康 — 成立"
    assert page.inner_text("h2 >> nth=0") == "证明"
    assert "当前选择的治疗线数 = 2" in page.inner_text("#proof")
    rows = page.eval_on_selector_all("#values tr", "rows => rows.map(r => r.innerText.split('\\t').map(s => s.trim()))")
    assert ["病理类型 (histology)", "小细胞肺癌", ""] in rows
    assert ["一线标准治疗结束到疾病进展的时间间隔 (tfi)", "45 天", ""] in rows
    page.screenshot(path="/tmp/oncologic_explain_zh.png", full_page=True)
    page.close()


def test_an_undecided_goal_shows_why_not_and_what_is_missing(browser, dev):
    page, _ = _open(browser, _link(dev, record("sclc_second_line.json"), "bronchoscopic_intervention"))
    assert page.inner_text("#verdict") == "bronchoscopic intervention — undecided (possible: data missing)"
    assert page.inner_text("h2 >> nth=0") == "Why not"
    assert "central_airway_stenosis" in page.inner_text("#proof")
    page.close()


def test_text_from_the_record_stays_text(browser, dev):
    patient = dict(record("sclc_second_line.json"), id="<img src=x onerror=document.title='pwned'>")
    page, seen = _open(browser, _link(dev, patient, "topotecan"))
    assert page.title() == "topotecan: explanation for patient <img src=x onerror=document.title='pwned'>"
    assert page.query_selector("img[src=x]") is None
    assert "<img src=x" in page.inner_text("#title")
    page.close()


def test_values_read_from_fhir_show_the_resource_they_came_from(browser, dev):
    bundle = json.loads((ROOT / "examples" / "fhir" / "sclc_second_line.json").read_text(encoding="utf-8"))
    templates = dev.get("/cds-services").json()["services"][0]["prefetch"]
    body = patient_view(prefetch=prefetch_of(bundle, templates), patient_id="pt-fhir-sclc")
    page, seen = _open(browser, _link(dev, None, "topotecan", body=body))
    rows = page.eval_on_selector_all("#values tr", "rows => rows.map(r => r.innerText.split('\\t').map(s => s.trim()))")
    assert ["histology", "sclc", "Condition/sclc-dx (SNOMED 254632001, 2025-08-20)"] in rows
    assert page.inner_text("#verdict") == "topotecan — holds"
    page.screenshot(path="/tmp/oncologic_explain_fhir.png", full_page=True)
    assert seen["console"] == []
    page.close()
