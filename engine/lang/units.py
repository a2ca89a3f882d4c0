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

# Units as people write them, and the UCUM unit the rule language and patient records take
# instead: the one table of them, for the hint of a rule's syntax error (`tfi < 3m`) and of a
# record's value ("3 months"). Looked up as written, then in lower case. `m` is ambiguous (metre?
# minute? month?): UCUM's `m` is the metre, so months are `mo`.
UNIT_SPELLINGS: dict[str, str] = {
    "m": "mo", "mon": "mo", "mos": "mo", "mth": "mo", "mths": "mo", "month": "mo", "months": "mo",
    "day": "d", "days": "d", "dy": "d",
    "w": "wk", "wks": "wk", "week": "wk", "weeks": "wk",
    "y": "a", "yr": "a", "yrs": "a", "year": "a", "years": "a",
    "millimeter": "mm", "millimeters": "mm", "millimetre": "mm", "millimetres": "mm",
    "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "percent": "%", "pct": "%",
    "天": "d", "日": "d", "周": "wk", "星期": "wk", "月": "mo", "个月": "mo", "個月": "mo", "年": "a",
}
_AMBIGUOUS = frozenset({"m"})
_UNIT_WORDS = {"d": "days", "wk": "weeks", "mo": "months", "a": "years", "mm": "millimetres", "cm": "centimetres",
               "%": "percent"}


def spelt_unit(written: str) -> str | None:
    """The unit of the rule language that ``written`` stands for (``days`` → ``d``, ``D`` → ``d``,
    ``m`` → ``mo``), or None when it is one already or stands for none."""
    for form in (written, written.lower()):
        if form in UNIT_SPELLINGS:
            return UNIT_SPELLINGS[form]
    valid = {u for _, factors in UNITS.values() for u in factors}
    return written.lower() if written not in valid and written.lower() in valid else None


def unit_hint(written: str) -> str | None:
    """What to write instead of the unit ``written``: ``"write 'mo' for months ('m' is
    ambiguous)"``, ``"write 'd' for days"``; None when ``written`` stands for no unit."""
    unit = spelt_unit(written)
    if unit is None:
        return None
    ambiguous = f" ('{written}' is ambiguous)" if written.lower() in _AMBIGUOUS else ""
    return f"write '{unit}' for {_UNIT_WORDS[unit]}{ambiguous}"


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
    if unit not in factors:
        hint = unit_hint(unit) if spelt_unit(unit) in factors else None
        raise ValueError(f"unit '{unit}' is not a {kind} unit ({', '.join(factors)})" + (f"; {hint}" if hint else ""))
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
