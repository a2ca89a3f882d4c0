"""oncologic: a logic engine for clinical oncology guidelines.

Rules written in a small language for clinicians are compiled to Datalog and run with
pyDatalog; every conclusion comes with its source, grade and an explanation.

    >>> import oncologic
    >>> kb = oncologic.load()                       # the shipped knowledge base
    >>> result = kb.evaluate({"id": "p1", "cancer": "lung", "histology": "sclc", "tfi": "45d", "line": 2})
    >>> [r.id for r in result.recommendations][:2]
    ['amrubicin', 'topotecan']
"""
from .resources import __version__  # noqa: E402
from .api import KnowledgeBase, load  # noqa: E402
from .errors import GoalError, OncologicError, PatientError, RuleError  # noqa: E402

__all__ = ["KnowledgeBase", "load", "OncologicError", "PatientError", "RuleError", "GoalError", "__version__"]
