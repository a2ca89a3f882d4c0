"""The Pygments lexer of the rule language: ``pygmentize -l oncologic facts/lung/sclc.rules``,
and ```` ```oncologic ```` blocks in Sphinx and MkDocs (registered under the
``pygments.lexers`` entry point; aliases ``oncologic`` and ``rules``, files ``*.rules``).

In: rule text. Out: Pygments tokens — comments, strings, dates, numbers with a unit (``90d``,
``80%``), keywords (every word the grammar spells out, read from it:
:func:`oncologic.lang.parser.keywords`; statement keywords as declarations, ``true``/``false``
as constants), the name a statement declares, operators and punctuation, other names. Never
raises: a character the language does not use is one Error token. Imports pygments (a
dependency of rich) and lark's grammar when loaded: nothing a command's cold start loads
imports it.
"""
from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from ..lang.parser import keywords, statement_keywords, unit_pattern

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
_CONSTANTS = {"true", "false"}


def _words(names) -> str:
    """A regular expression for any of ``names`` as a whole word (longest first)."""
    alternatives = "|".join(re.escape(w) for w in sorted(names, key=lambda w: (-len(w), w)))
    return rf"(?<![A-Za-z0-9_.])(?:{alternatives})(?![A-Za-z0-9_.])"


_TYPES = {"enum", "int", "number", "duration", "percent", "length", "bool", "date", "string", "set", "list", "items"}


class RulesLexer(RegexLexer):
    """The oncologic rule language (``*.rules``)."""

    name = "Oncologic rules"
    aliases = ["oncologic", "rules"]
    filenames = ["*.rules"]
    mimetypes = ["text/x-oncologic"]
    url = "https://github.com/oncologic/oncologic"
    flags = re.MULTILINE

    _statements = statement_keywords()
    _types = _TYPES & keywords()
    _others = keywords() - statement_keywords() - _CONSTANTS - _TYPES

    tokens = {
        "root": [
            (r"[ \t\f\r\n\u3000]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (r"\d{4}-\d{2}-\d{2}", Number.Other),  # a date
            (r"(\d+(?:\.\d+)?)" + "(" + unit_pattern() + ")", bygroups(Number, Keyword.Type)),
            (r"\d+(?:\.\d+)?", Number),
            # a statement's first word and the name it declares
            ("(" + _words(_statements) + r")([ \t\u3000]+)(" + _NAME + ")", bygroups(Keyword.Declaration, Whitespace, Name.Entity)),
            (_words(_statements), Keyword.Declaration),
            (_words(_CONSTANTS), Keyword.Constant),
            (_words(_types), Keyword.Type),
            (_words(_others), Keyword),
            (_NAME, Name),
            (r"<=|>=|!=|[=<>≤≥≠+\-]|\.\.", Operator),
            (r"[(){}:;,]", Punctuation),
        ],
    }

