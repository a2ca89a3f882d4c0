"""Where the grammar and the shipped knowledge base are, and which release they belong to.

In an installed wheel they sit inside the package (``oncologic/grammar``, ``oncologic/facts``);
in a source checkout they are the top-level ``grammar/`` and ``facts/`` beside ``engine/``.
"""
from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"  # the release (as in pyproject.toml); here, low in the package, so the
# compiler's cache key can read it without importing the package's top (which imports api)

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"oncologic is installed without its {name}/ folder (looked in {_PACKAGE})")


def grammar_path() -> Path:
    return _data_dir("grammar") / "oncologic.lark"


def default_kb_dir() -> Path:
    return _data_dir("facts")
