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
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"


class RuleError(OncologicError):
    """The knowledge base has errors; ``diagnostics`` lists all of them."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.file, d.line, d.column))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class PatientError(OncologicError):
    """A patient record is not valid; the message names the file (``FILE`` or, in a JSON Lines
    cohort, ``FILE:LINE``) and the attribute. ``line`` is the cohort line, or None.

    The message is one line, its control characters written as escapes (``\\x1b``): it quotes
    what the record says, and a record's text must not reach a terminal as control codes."""

    def __init__(self, source: str, message: str, attribute: str | None = None, line: int | None = None):
        from .report.visible import visible
        self.source = source
        self.attribute = attribute
        self.line = line
        where = f"{source}: attribute '{attribute}'" if attribute else source
        super().__init__(visible(f"{where}: {message}"))


class GoalError(OncologicError):
    """An explain/why-not goal that the knowledge base does not know."""
