"""Sets of numbers as unions of intervals: what a test of one ordered attribute accepts.

An :class:`Span` is an interval with open or closed ends (``None``: unbounded); a
:class:`Values` a sorted union of disjoint spans. An integer domain (``int``, day numbers of
dates) is kept as closed spans of whole numbers, so ``line > 2`` is ``[3, ∞)`` and ``line = 2``
beside ``line >= 3`` leaves no gap. A real domain may have a grid (``integral`` a Fraction:
the step, 1e-6 for the values of records, which keep 6 decimals): a span that holds no point
of the grid is empty (no record lies strictly between 1.000001% and 1.000002%), and a sample
is a point of the grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..values import Value

INF = None


@dataclass(frozen=True, eq=False, repr=False)
class Span(Value):
    """An interval: its ends (None: unbounded) and whether each is included."""

    low: Fraction | None
    low_closed: bool
    high: Fraction | None
    high_closed: bool

    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        return self.low > self.high or (self.low == self.high and not (self.low_closed and self.high_closed))

    def point(self) -> bool:
        return self.low is not None and self.low == self.high

    def sample(self, step: Fraction | None = None):
        """A value inside the span (a multiple of ``step`` when given)."""
        if step is not None:
            on = _whole(Span(None if self.low is None else self.low / step, self.low_closed,
                             None if self.high is None else self.high / step, self.high_closed))
            if on is None:
                return None
            if on.low is not None:
                return on.low * step
            if on.high is not None:
                return min(on.high, Fraction(0)) * step
            return Fraction(0)
        if self.low is not None and self.low_closed:
            return self.low
        if self.high is not None and self.high_closed:
            return self.high
        if self.low is not None and self.high is not None:
            return (self.low + self.high) / 2
        if self.low is not None:
            return self.low + 1
        if self.high is not None:
            return self.high - 1
        return Fraction(0)


class Values:
    """A union of disjoint spans over the reals or (``integral``) the whole numbers."""

    def __init__(self, spans, integral: bool | Fraction):
        self.integral = integral
        self.step = Fraction(1) if integral is True else (integral or None)
        norm = []
        for s in spans:
            if integral is True:
                s = _whole(s)
                if s is None:
                    continue
            elif self.step is not None and s.sample(self.step) is None:
                continue  # no point of the grid in it
            if not s.empty():
                norm.append(s)
        self.spans = _merge(norm, integral is True)

    @classmethod
    def everything(cls, integral: bool) -> "Values":
        return cls([Span(None, False, None, False)], integral)

    @classmethod
    def test(cls, op: str, c, integral: bool) -> "Values":
        c = Fraction(c)
        spans = {
            "=": [Span(c, True, c, True)],
            "!=": [Span(None, False, c, False), Span(c, False, None, False)],
            "<": [Span(None, False, c, False)], "<=": [Span(None, False, c, True)],
            ">": [Span(c, False, None, False)], ">=": [Span(c, True, None, False)],
        }[op]
        return cls(spans, integral)

    def empty(self) -> bool:
        return not self.spans

    def union(self, other: "Values") -> "Values":
        return Values(self.spans + other.spans, self.integral)

    def intersect(self, other: "Values") -> "Values":
        out = []
        for a in self.spans:
            for b in other.spans:
                low, low_closed = _max_low(a, b)
                high, high_closed = _min_high(a, b)
                out.append(Span(low, low_closed, high, high_closed))
        return Values(out, self.integral)

    def complement(self) -> "Values":
        out = []
        low, low_closed = None, False
        for s in self.spans:
            if s.low is not None:
                out.append(Span(low, low_closed, s.low, not s.low_closed))
            if s.high is None:
                return Values(out, self.integral)
            low, low_closed = s.high, not s.high_closed
        out.append(Span(low, low_closed, None, False))
        return Values(out, self.integral)

    def minus(self, other: "Values") -> "Values":
        return self.intersect(other.complement())

    def covers(self, other: "Values") -> bool:
        return other.minus(self).empty()

    def hull(self) -> "Values":
        """The smallest single interval holding the set."""
        if not self.spans:
            return self
        a, b = self.spans[0], self.spans[-1]
        return Values([Span(a.low, a.low_closed, b.high, b.high_closed)], self.integral)

    def __eq__(self, other):
        return isinstance(other, Values) and self.spans == other.spans

    def __repr__(self):
        return f"Values({self.spans})"


def _whole(s: Span) -> Span | None:
    low = None if s.low is None else (math.ceil(s.low) if s.low_closed or s.low != math.floor(s.low) else math.floor(s.low) + 1)
    high = None if s.high is None else (math.floor(s.high) if s.high_closed or s.high != math.ceil(s.high) else math.ceil(s.high) - 1)
    if low is not None and high is not None and low > high:
        return None
    return Span(None if low is None else Fraction(low), low is not None, None if high is None else Fraction(high), high is not None)


def _key_low(s: Span):
    return (-math.inf if s.low is None else s.low, 0 if s.low_closed else 1)


def _merge(spans: list[Span], integral: bool) -> list[Span]:
    spans = sorted(spans, key=_key_low)
    out: list[Span] = []
    for s in spans:
        if out:
            last = out[-1]
            touching = last.high is None or (s.low is not None and (
                s.low < last.high or (s.low == last.high and (last.high_closed or s.low_closed))
                or (integral and s.low == last.high + 1)))
            if s.low is None or touching:
                if last.high is None or (s.high is not None and (s.high < last.high or (s.high == last.high and not s.high_closed))):
                    continue  # inside the last one (or ends where it does, no more closed)
                high_closed = s.high_closed if s.high is None or last.high is None or s.high > last.high else (s.high_closed or last.high_closed)
                out[-1] = Span(last.low, last.low_closed, s.high, high_closed)
                continue
        out.append(s)
    return out


def _max_low(a: Span, b: Span):
    if a.low is None:
        return b.low, b.low_closed
    if b.low is None:
        return a.low, a.low_closed
    if a.low > b.low:
        return a.low, a.low_closed
    if b.low > a.low:
        return b.low, b.low_closed
    return a.low, a.low_closed and b.low_closed


def _min_high(a: Span, b: Span):
    if a.high is None:
        return b.high, b.high_closed
    if b.high is None:
        return a.high, a.high_closed
    if a.high < b.high:
        return a.high, a.high_closed
    if b.high < a.high:
        return b.high, b.high_closed
    return a.high, a.high_closed and b.high_closed
