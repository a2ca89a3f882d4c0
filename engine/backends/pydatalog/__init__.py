"""The pyDatalog backend: the reference engine, one patient or a batch per query.

The only module of the package that imports pyDatalog (tests/test_layout.py checks it).
"""
from .engine import PyDatalogEngine

__all__ = ["PyDatalogEngine"]
