"""The message catalogues: every word the reports write, one plain JSON file per language.

``messages/en.json`` and ``messages/zh.json`` hold the same keys with the same ``{placeholders}``
(a test checks): ``phrases`` (the sentences of conditions and changes, :mod:`.words`),
``operators`` (how an operator reads), ``units`` (how a canonical unit reads), ``locator``
(words of a source's locator: ``Table 3`` → ``表3``) and ``layout`` (headings and lines of the
text report, with rich markup, :mod:`.text`). A verdict keyed by ``true``/``false``/``null``
stands for Python's True/False/None.

A catalogue is read on first use, and only the language asked for (a cold command-line start
reads one small file). The knowledge base's own words — labels of attributes, items, concepts
and enum values, notes, reasons and document titles — live in ``facts/``, not here.
"""
from __future__ import annotations

import json
from pathlib import Path

LANGUAGES = ("en", "zh")
_DIR = Path(__file__).resolve().parent / "messages"
_LOADED: dict[str, dict] = {}


def path(lang: str) -> Path:
    return _DIR / f"{lang}.json"


def catalogue(lang: str) -> dict:
    """The whole catalogue of ``lang`` (read once per process)."""
    found = _LOADED.get(lang)
    if found is None:
        if lang not in LANGUAGES:
            raise ValueError(f"no words for language '{lang}'")
        found = _LOADED[lang] = json.loads(path(lang).read_text(encoding="utf-8"))
    return found


def verdict_key(holds) -> str:
    """The catalogue's key of a three-valued verdict."""
    return "null" if holds is None else "true" if holds else "false"


def locator(text: str, lang: str) -> str:
    """A source's locator in ``lang``: its words from the catalogue (``Table 3`` → ``表3`` in
    Chinese), the rest as the rule file writes it. The text report and the pictures both write
    locators with this; the JSON keeps them as written."""
    import re
    words = catalogue(lang)["locator"]
    if not text or all(k == v for k, v in words.items()):
        return text
    return re.sub(r"\b(" + "|".join(map(re.escape, words)) + r")\b\s*", lambda m: words[m.group(1)], text)
