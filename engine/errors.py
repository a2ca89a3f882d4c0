"""Errors a user can act on.

Every error the engine raises for bad input is an :class:`OncologicError`; the CLI prints its
message on stderr and exits with status 2. Anything else is an internal error (status 1).
"""
from __future__ import annotations

from dataclasses import dataclass


class OncologicError(Exception):
    """Bad input: a rule file, a patient record, a goal or an option."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a rule file, printed as ``FILE:LINE:COL: error: MESSAGE``."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{visible(self.file)}:{self.line}:{self.column}: {self.severity}: {visible(self.message)}"


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on or not show escaped: C0/C1
    controls as ``\\x1b``, other invisible ones (format characters such as U+FEFF and U+200B,
    line and paragraph separators, surrogates) as ``U+FEFF``. Everything else is unchanged."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0xA0:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"U+{ord(ch):04X}")
    return "".join(out)


class RuleError(OncologicError):
    """The knowledge base has errors; ``diagnostics`` lists all of them."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class PatientError(OncologicError):
    """A patient record is not valid; the message names the file and the attribute."""

    def __init__(self, source: str, message: str, attribute: str | None = None):
        self.source = source
        self.attribute = attribute
        where = f"{source}: attribute '{attribute}'" if attribute else source
        super().__init__(f"{where}: {message}")


class GoalError(OncologicError):
    """An explain/why-not goal that the knowledge base does not know."""
