"""Units of measure (UCUM codes) for durations, lengths and percentages.

Values are kept in one canonical unit per kind — days, millimetres, percent — both in rules
(``tfi < 3mo``) and in patient records (``"tfi": "6wk"``), so the engine compares numbers only.
"""
from __future__ import annotations

import re

# kind -> (canonical unit, {unit: factor to canonical})
UNITS: dict[str, tuple[str, dict[str, float]]] = {
    "duration": ("d", {"d": 1, "wk": 7, "mo": 30.4375, "a": 365.25}),
    "length": ("mm", {"mm": 1, "cm": 10}),
    "percent": ("%", {"%": 1}),
}
# Units a bare number is read in, per kind (None: a unit is required).
BARE_NUMBER_UNIT = {"duration": "d", "percent": "%", "length": None}

_QUANTITY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z%]+)?\s*$")


def tidy(number: float) -> int | float:
    """An integral float becomes an int; others are rounded to 6 decimals (no float noise)."""
    rounded = round(float(number), 6)
    return int(rounded) if rounded == int(rounded) else rounded


def to_canonical(value: int | float, unit: str | None, kind: str) -> int | float:
    """Convert a number written in ``unit`` (None: bare) to the canonical unit of ``kind``.

    Raises ValueError with a readable reason when the unit does not fit the kind, or when the
    number has more than 6 decimal places (the engine keeps 6: rounding it silently could move a
    value across a threshold, 89.9999999 d onto 90 d).
    """
    if isinstance(value, float) and round(value, 6) != value:
        raise ValueError(f"{value!r} has more than 6 decimal places; the engine keeps 6: write it rounded")
    canonical, factors = UNITS[kind]
    if unit is None:
        bare = BARE_NUMBER_UNIT[kind]
        if bare is None:
            raise ValueError(f"needs a unit ({', '.join(factors)})")
        unit = bare
    if unit == "m" and kind == "duration":
        raise ValueError("unit 'm' is ambiguous; write 'mo' for months (or 'd', 'wk', 'a')")
    if unit not in factors:
        raise ValueError(f"unit '{unit}' is not a {kind} unit ({', '.join(factors)})")
    return tidy(value * factors[unit])


def parse_quantity(text: str, kind: str) -> tuple[int | float, str | None]:
    """Parse ``"45d"``, ``"45 d"``, ``"6wk"``, ``"25%"``, ``"4.5cm"`` → (number, unit or None)."""
    match = _QUANTITY.match(text)
    if not match:
        examples = {"duration": '"45d", "6wk", "3mo", "1a"', "length": '"4.5cm", "45mm"', "percent": '"25%"'}[kind]
        raise ValueError(f"'{text}' is not a {kind}; write e.g. {examples}")
    written = match.group(1)
    number = float(written) if "." in written else int(written)  # exact: to_canonical checks the decimals
    return (int(number) if isinstance(number, float) and number.is_integer() else number), match.group(2)


def canonical_unit(kind: str) -> str | None:
    return UNITS[kind][0] if kind in UNITS else None


def show(value, kind: str) -> str:
    """A value for a person: ``45 d``, ``25 %``, ``50 mm``; other kinds as they are."""
    unit = canonical_unit(kind)
    if unit is None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple, set, frozenset)):
            return "{" + ", ".join(sorted(map(str, value))) + "}" if value else "{} (none)"
        return str(value)
    return f"{tidy(value)} {unit}" if unit != "%" else f"{tidy(value)}%"
