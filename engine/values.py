"""Equality, hashing and ``repr`` for the package's dataclasses, written once.

``@dataclass`` compiles each method it generates with a separate ``exec`` on Python 3.11
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, and ``__setattr__``/``__delattr__`` for a
frozen class): about 75 µs each, 20 ms of a cold command-line start for the package's ~60
classes (bench/RESULTS.md, issue 9). The classes here define ``__eq__``, ``__hash__`` and
``__repr__`` once, with the meaning ``@dataclass`` gives them; a subclass is declared with
``@dataclass(..., eq=False, repr=False)`` so that only ``__init__`` (and, when frozen, the two
setters) are generated.

Meaning, as :mod:`dataclasses` documents it: two instances are equal when they are of the
same class and their fields with ``compare=True`` are equal, in order (as tuples, so an
identical object counts as equal to itself); :class:`Value` hashes those fields' tuple and
:class:`Record` is unhashable (a mutable dataclass with ``eq=True``); ``repr`` shows the fields
with ``repr=True`` as ``Name(field=value, ...)`` using the class's qualified name.
"""
from __future__ import annotations

import dataclasses
from operator import attrgetter

_KEYS: dict[type, object] = {}  # class -> a function giving the tuple of its compared fields
_SHOWN: dict[type, tuple[str, ...]] = {}  # class -> the names of its fields with repr=True


def _key(cls: type):
    names = [f.name for f in dataclasses.fields(cls) if f.compare]
    if len(names) == 1:  # attrgetter of one name gives the value itself, not a 1-tuple
        name = names[0]
        get = lambda obj: (getattr(obj, name),)  # noqa: E731
    elif names:
        get = attrgetter(*names)
    else:
        get = lambda obj: ()  # noqa: E731
    _KEYS[cls] = get
    return get


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    get = _KEYS.get(self.__class__) or _key(self.__class__)
    return get(self) == get(other)


def _repr(self) -> str:
    cls = self.__class__
    names = _SHOWN.get(cls)
    if names is None:
        names = _SHOWN[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.repr)
    return f"{cls.__qualname__}({', '.join(f'{name}={getattr(self, name)!r}' for name in names)})"


class Value:
    """Base of a frozen dataclass (``@dataclass(frozen=True, eq=False, repr=False)``):
    equal by its compared fields, hashable by them, shown as ``Name(field=value, ...)``."""

    __slots__ = ()
    __eq__ = _eq
    __repr__ = _repr

    def __hash__(self) -> int:
        get = _KEYS.get(self.__class__) or _key(self.__class__)
        return hash(get(self))


class Record:
    """Base of a mutable dataclass (``@dataclass(eq=False, repr=False)``): equal by its
    compared fields, unhashable, shown as ``Name(field=value, ...)``."""

    __slots__ = ()
    __eq__ = _eq
    __repr__ = _repr
    __hash__ = None  # type: ignore[assignment]
