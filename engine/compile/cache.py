"""The cache of compiled knowledge bases: plain data, validated when read.

A :class:`~oncologic.compile.compiler.CompiledKB` is written as JSON and read back by a
decoder that can build nothing but plain values and the project's own dataclasses named in
:data:`CLASSES`. Nothing read from the cache is unpickled, evaluated or imported: a cache
entry is untrusted input, and any entry that is not exactly what this version writes
(unreadable, truncated, foreign, of another format version or key, or wrong-shaped) is
refused with :class:`CacheError`, so that the caller rebuilds it.

How a value is written follows from the annotation of the field that holds it (refined in
:data:`_REFINED` where the annotation is looser than what the compiler stores)::

    str, int, float, bool, None, unions of them     the value itself
    an allow-listed frozen class (a union of them, ``Pos``, ``Condition | None``, ...)
                                                    the number of the object (a reference),
                                                    or the plain value a union also allows
    a union of frozen classes and int (``Term``)    [number] for an object, else the value
    tuple[X, ...], list[X], frozenset[X]            an array of X
    tuple[A, B]                                     an array of an A and a B
    dict[K, V]                                      an array [k1, v1, k2, v2, ...]
    X | None for one of these containers            the container, or null
    a mutable allow-listed class (the knowledge
      base, the checked model, the program, the plan)  an array of its fields in order

Every instance of a frozen dataclass is written once (``Var("P")`` occurs thousands of times,
a rule's condition both in the rules and in the nodes) in a table of columns: one block per
class, one column per field. Objects are numbered in the order they were finished, an
object's parts before it, so every reference goes to a lower number than its holder's: no
cycles. An entry is one JSON object, the only one in it::

    {"format": "oncologic-compiled-kb", "version": FORMAT_VERSION, "key": KEY,
     "classes": [["Name", [field, ...]], ...],   the allow-list and its field names
     "order": [class of object 0, class of object 1, ...],   (places in "classes")
     "columns": [[column of field 1, ...] for each class],
     "kb": the fields of the CompiledKB}

Reading checks ``classes`` against the running code (names and order of the fields), makes
the objects of ``order`` empty, reads and checks every column (the types of its values,
containers rebuilt exactly: tuple, list, frozenset, dicts with int keys; references in range
and lower than their holder), and only then fills the objects in. Columns are checked and
converted mostly by C loops (``map``, ``issuperset``), not a Python call per value: this is
what keeps reading an entry close to unpickling one.

Files are read and written without following symlinks, reading only regular files of a
bounded size without blocking, and writing through an exclusively created temporary file
renamed onto the entry (:func:`read_entry`, :func:`write_entry`).
"""
from __future__ import annotations

import builtins
import dataclasses
import functools
import gc
import json
import os
import re
import stat
import sys
import types
import typing
from collections import Counter, deque
from itertools import chain, compress, islice, repeat
from operator import attrgetter, itemgetter, lt
from pathlib import Path

from ..lang import nodes as n
from ..model.kb import CheckedKB
from . import datalog as d
from .compiler import CompiledKB, Node
from .plan import Group, Plan

FORMAT = "oncologic-compiled-kb"
FORMAT_VERSION = 4  # bump when the encoding changes (a change of the classes changes the key anyway)
MAX_ENTRY_BYTES = 16 * 1024 * 1024  # the shipped knowledge base takes about 0.3 MB

CLASSES: tuple[type, ...] = (
    # lang/nodes.py: the AST
    n.Pos, n.Quantity, n.Symbol, n.Text, n.DateValue, n.BoolValue, n.TypeSpec, n.Field, n.Document,
    n.Grading, n.Code, n.Attribute, n.Item, n.Compare, n.OneOf, n.Has, n.IsEmpty, n.IsKnown, n.AnyRecord,
    n.Ref, n.ConceptRef, n.And, n.Or, n.Not, n.Citation, n.Rule,
    # model/kb.py
    CheckedKB,
    # compile/datalog.py: the Datalog IR
    d.Var, d.Atom, d.Negation, d.Comparison, d.Origin, d.Clause, d.Program,
    # compile/compiler.py, compile/plan.py
    Node, Group, Plan, CompiledKB,
)
"""The only classes a cache entry can make."""

_TRANSIENT = {Plan: ("_cache",)}  # fields rebuilt empty, never written (each must have a default)

# Annotations that say less than the compiler guarantees: read and written as these instead.
_REFINED = {
    (d.Atom, "args"): tuple[d.Term, ...],
    (d.Clause, "body"): tuple[d.Literal, ...],
    (Node, "ast"): typing.Optional[typing.Union[n.Condition, str]],  # "record" for a field node
    (CompiledKB, "leaf_rails"): dict[str, tuple[d.Literal, ...]],
    (CompiledKB, "plan"): typing.Optional[Plan],
    (Plan, "conclusions"): tuple[int, ...],
    (Plan, "missing_roots"): tuple[int, ...],
    (Plan, "groups"): dict[int, Group],
    (Group, "members"): frozenset[int],
}


class CacheError(ValueError):
    """A cache entry that cannot be used: unreadable, foreign, stale or wrong-shaped; or a
    knowledge base holding a value the format cannot write."""


_PLAIN = frozenset([str, int, float, bool, type(None)])
_INT = frozenset([int])
_LIST = frozenset([list])


# ---- schema: how each field is written and checked, from the classes' annotations -----------

class _Spec:
    """One allow-listed class: ``names`` of its persistent fields in order, ``codecs`` for
    them, ``number`` (its place in :data:`CLASSES`), ``shared`` (frozen, without
    ``__post_init__``: written once in the table of objects and filled in directly)."""

    __slots__ = ("cls", "tag", "number", "names", "codecs", "shared")

    def __init__(self, cls: type, number: int):
        hints = _annotations(cls)
        transient = _TRANSIENT.get(cls, ())
        every = [f.name for f in dataclasses.fields(cls)]
        names = [name for name in every if name not in transient]
        if every[:len(names)] != names:
            raise TypeError(f"{cls.__name__}: transient fields must come last")
        self.cls = cls
        self.tag = cls.__name__
        self.number = number
        self.names = tuple(names)
        self.shared = cls.__dataclass_params__.frozen and not hasattr(cls, "__post_init__")
        self.codecs = tuple(_codec(_REFINED.get((cls, name), hints[name])) for name in names)


_SPECS: dict[type, _Spec] | None = None


def _specs() -> dict[type, _Spec]:
    """The allow-list as tables, made on first use. Raises TypeError if a field has an
    annotation the format cannot write (a programming error: the tests build the tables)."""
    global _SPECS
    if _SPECS is None:
        _SPECS = {cls: _Spec(cls, number) for number, cls in enumerate(CLASSES)}
    return _SPECS


def _schema() -> list:
    return [[spec.tag, list(spec.names)] for spec in _specs().values()]


_TOKEN = re.compile(r"\s*(\.\.\.|[A-Za-z_][\w.]*|[\[\],|])")


def _annotations(cls: type) -> dict[str, object]:
    """The field annotations of a dataclass as types: what :func:`typing.get_type_hints` gives
    for the forms this project writes (``X | None``, ``tuple[X, ...]``, ``dict[str, n.Rule]``,
    quoted forward references), read by a small parser that looks names up in the class's
    module instead of ``eval``-ing the text (and takes a fraction of the time)."""
    namespace = vars(sys.modules[cls.__module__])
    out = {}
    for klass in reversed(cls.__mro__):
        for name, text in getattr(klass, "__annotations__", {}).items():
            out[name] = _parse_annotation(text, namespace) if isinstance(text, str) else text
    return out


def _parse_annotation(text: str, namespace: dict):
    """``text`` (an annotation as written) as a type. Raises TypeError if it is not one of the
    forms :func:`_annotations` reads."""
    tokens = _TOKEN.findall(text.replace('"', " ").replace("'", " "))
    if "".join(tokens) != "".join(text.replace('"', "").replace("'", "").split()):
        raise TypeError(f"cannot read the annotation {text!r}")
    at = 0

    def union():
        nonlocal at
        parts = [primary()]
        while at < len(tokens) and tokens[at] == "|":
            at += 1
            parts.append(primary())
        return parts[0] if len(parts) == 1 else typing.Union[tuple(parts)]

    def primary():
        nonlocal at
        token = tokens[at]
        at += 1
        if token == "...":
            return Ellipsis
        value = _lookup(token, namespace)
        if at < len(tokens) and tokens[at] == "[":
            at += 1
            args = [union()]
            while tokens[at] == ",":
                at += 1
                args.append(union())
            if tokens[at] != "]":
                raise TypeError(f"cannot read the annotation {text!r}")
            at += 1
            value = value[tuple(args)] if len(args) > 1 else value[args[0]]
        return value

    try:
        result = union()
    except (IndexError, KeyError, AttributeError, TypeError):
        result, at = None, -1
    if at != len(tokens):
        raise TypeError(f"cannot read the annotation {text!r}")
    return result


def _lookup(dotted: str, namespace: dict):
    if dotted == "None":
        return type(None)
    head, *rest = dotted.split(".")
    value = namespace[head] if head in namespace else getattr(builtins, head)
    for part in rest:
        value = getattr(value, part)
    return value


_SHARED_CLASSES = frozenset(cls for cls in CLASSES
                            if cls.__dataclass_params__.frozen and not hasattr(cls, "__post_init__"))


@functools.lru_cache(maxsize=None)  # many fields share an annotation
def _codec(hint) -> "_Codec":
    """How a value annotated ``hint`` is written and read (the table in the module docstring).
    Raises TypeError for an annotation the format cannot write (``object``, a bare ``tuple``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        plain = frozenset(a for a in args if a in _PLAIN)
        shared = frozenset(a for a in args if a in _SHARED_CLASSES)
        rest = [a for a in args if a not in plain and a not in shared]
        if not rest:
            if not shared:
                return _Plain(plain)
            return _Ref(shared, plain) if int not in plain else _Mixed(shared, plain)
        if len(rest) == 1 and not shared and plain == {type(None)}:
            return _Optional(_codec(rest[0]))
    elif origin is None:
        if hint is None or hint in _PLAIN:
            return _Plain(frozenset([type(None) if hint is None else hint]))
        if hint in _SHARED_CLASSES:
            return _Ref(frozenset([hint]), frozenset())
        if hint in CLASSES:
            return _Object(hint)
    elif origin in (list, frozenset) and len(args) == 1 or origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _Seq(origin, _codec(args[0]))
    elif origin is tuple and args and Ellipsis not in args:
        return _Fixed(tuple(_codec(a) for a in args))
    elif origin is dict and len(args) == 2:
        return _Dict(_codec(args[0]), _codec(args[1]))
    raise TypeError(f"the cache cannot write a value annotated {hint!r}")


class _Codec:
    """Writes one value (``write``) and reads a column of them (``read``).

    ``read(column, bounds, reader)`` takes the JSON values of a column and, for each, the
    number below which its references must stay (its holder's number); it returns the values
    made and checked, or raises CacheError (or ValueError, TypeError, LookupError for data of
    the wrong shape)."""

    def write(self, value, writer: "_Writer"):  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, column: list, bounds: list, reader: "_Reader") -> list:  # pragma: no cover - abstract
        raise NotImplementedError


def _scalar(value):
    if type(value) is float and (value != value or value in (float("inf"), float("-inf"))):
        raise CacheError(f"cannot cache the number {value!r}")
    return value


class _Plain(_Codec):
    def __init__(self, types_: frozenset):
        self.types = types_ | {int} if float in types_ else types_  # PEP 484: an int is a float

    def write(self, value, writer):
        if type(value) not in self.types:
            raise CacheError(f"cannot cache {value!r} as one of {sorted(t.__name__ for t in self.types)}")
        return _scalar(value)

    def read(self, column, bounds, reader):
        if not self.types.issuperset(map(type, column)):
            raise CacheError("a value of the wrong type")
        return column


class _Ref(_Codec):
    """A frozen object as its number; or a plain value of ``others`` (never an int)."""

    def __init__(self, classes: frozenset, others: frozenset):
        self.classes, self.others, self.allowed = classes, others, classes | others

    def write(self, value, writer):
        if type(value) in self.classes:
            return writer.number(value)
        if type(value) in self.others:
            return _scalar(value)
        raise CacheError(f"cannot cache a {type(value).__name__} here")

    def read(self, column, bounds, reader):
        objects = reader.objects
        if not self.others:
            if not _INT.issuperset(map(type, column)) or not all(map(lt, column, bounds)) or min(column, default=0) < 0:
                raise CacheError("a reference to no earlier object")
            out = list(map(objects.__getitem__, column))
        else:
            given = [v.__class__ is int for v in column]
            refs = list(compress(column, given))
            if not all(map(lt, refs, compress(bounds, given))) or min(refs, default=0) < 0:
                raise CacheError("a reference to no earlier object")
            out = [objects[v] if v.__class__ is int else v for v in column]
        if not self.allowed.issuperset(map(type, out)):
            raise CacheError("a value or an object of the wrong type")
        return out


class _Mixed(_Codec):
    """A frozen object as [its number], or a plain value (ints included)."""

    def __init__(self, classes: frozenset, others: frozenset):
        self.classes, self.others, self.allowed = classes, others, classes | others

    def write(self, value, writer):
        if type(value) in self.classes:
            return [writer.number(value)]
        if type(value) in self.others:
            return _scalar(value)
        raise CacheError(f"cannot cache a {type(value).__name__} here")

    def read(self, column, bounds, reader):
        if not all(len(v) == 1 and v[0].__class__ is int and 0 <= v[0] < bound
                   for v, bound in zip(column, bounds) if v.__class__ is list):
            raise CacheError("a reference to no earlier object")
        objects = reader.objects
        out = [objects[v[0]] if v.__class__ is list else v for v in column]
        if not self.allowed.issuperset(map(type, out)):
            raise CacheError("a value or an object of the wrong type")
        return out


class _Seq(_Codec):
    """tuple[X, ...], list[X] or frozenset[X]: an array (a frozenset's in a fixed order)."""

    def __init__(self, container: type, item: _Codec):
        self.container, self.item = container, item

    def write(self, value, writer):
        if type(value) is not self.container:
            raise CacheError(f"cannot cache a {type(value).__name__} as a {self.container.__name__}")
        items = [self.item.write(x, writer) for x in value]
        if self.container is frozenset:  # so that equal knowledge bases give equal entries
            items.sort(key=lambda x: json.dumps(x, sort_keys=True))
        return items

    def read(self, column, bounds, reader):
        if not _LIST.issuperset(map(type, column)):
            raise CacheError("not an array")
        item, container = self.item, self.container
        # the common cases without flattening: plain values, and references to objects
        if type(item) is _Plain:
            if not item.types.issuperset(map(type, chain.from_iterable(column))):
                raise CacheError("a value of the wrong type")
            return list(map(container, column))
        if type(item) is _Ref and not item.others:
            if not _INT.issuperset(map(type, chain.from_iterable(column))) \
                    or min(chain.from_iterable(column), default=0) < 0 \
                    or not all(map(lt, map(max, filter(None, column)), compress(bounds, column))):
                raise CacheError("a reference to no earlier object")
            out = list(map(container, map(map, repeat(reader.objects.__getitem__), column)))
            if not item.allowed.issuperset(map(type, chain.from_iterable(out))):
                raise CacheError("an object of the wrong type")
            return out
        if type(item) is _Mixed:
            objects = reader.objects
            if not all(len(v) == 1 and v[0].__class__ is int and 0 <= v[0] < bound
                       for values, bound in zip(column, bounds) for v in values if v.__class__ is list):
                raise CacheError("a reference to no earlier object")
            out = [container([objects[v[0]] if v.__class__ is list else v for v in values]) for values in column]
            if not item.allowed.issuperset(map(type, chain.from_iterable(out))):
                raise CacheError("a value or an object of the wrong type")
            return out
        sizes = list(map(len, column))
        items = iter(self.item.read(list(chain.from_iterable(column)),
                                    list(chain.from_iterable(map(repeat, bounds, sizes))), reader))
        return list(map(self.container, map(islice, repeat(items), sizes)))


class _Fixed(_Codec):
    """tuple[A, B, ...]: an array of its parts."""

    def __init__(self, parts: tuple):
        self.parts = parts

    def write(self, value, writer):
        if type(value) is not tuple or len(value) != len(self.parts):
            raise CacheError(f"cannot cache {value!r} as a tuple of {len(self.parts)}")
        return [part.write(x, writer) for part, x in zip(self.parts, value)]

    def read(self, column, bounds, reader):
        width = len(self.parts)
        if not _LIST.issuperset(map(type, column)) or not all(len(v) == width for v in column):
            raise CacheError(f"not an array of {width}")
        places = [part.read(list(map(itemgetter(i), column)), bounds, reader) for i, part in enumerate(self.parts)]
        return list(zip(*places)) if column else []


class _Dict(_Codec):
    """dict[K, V]: an array of keys and values, alternating."""

    def __init__(self, key: _Codec, value: _Codec):
        self.key, self.value = key, value

    def write(self, value, writer):
        if type(value) is not dict:
            raise CacheError(f"cannot cache a {type(value).__name__} as a dict")
        out = []
        for k, v in value.items():
            out.append(self.key.write(k, writer))
            out.append(self.value.write(v, writer))
        return out

    def read(self, column, bounds, reader):
        if not _LIST.issuperset(map(type, column)) or any(len(v) % 2 for v in column):
            raise CacheError("not an array of keys and values")
        sizes = [len(v) // 2 for v in column]
        below = list(chain.from_iterable(map(repeat, bounds, sizes)))
        keys = iter(self.key.read(list(chain.from_iterable(v[0::2] for v in column)), below, reader))
        values = iter(self.value.read(list(chain.from_iterable(v[1::2] for v in column)), below, reader))
        return [dict(zip(islice(keys, size), islice(values, size))) for size in sizes]


class _Optional(_Codec):
    """A container, or None."""

    def __init__(self, inner: _Codec):
        self.inner = inner

    def write(self, value, writer):
        return None if value is None else self.inner.write(value, writer)

    def read(self, column, bounds, reader):
        given = [v is not None for v in column]
        values = iter(self.inner.read(list(compress(column, given)), list(compress(bounds, given)), reader))
        return [next(values) if present else None for present in given]


class _Object(_Codec):
    """A mutable allow-listed object, written in place: an array of its fields."""

    def __init__(self, cls: type):
        self.cls = cls

    def write(self, value, writer):
        if type(value) is not self.cls:
            raise CacheError(f"cannot cache a {type(value).__name__} as a {self.cls.__name__}")
        spec = writer.specs[self.cls]
        return [codec.write(getattr(value, name), writer) for name, codec in zip(spec.names, spec.codecs)]

    def read(self, column, bounds, reader):
        spec = reader.specs[self.cls]
        width = len(spec.names)
        if not _LIST.issuperset(map(type, column)) or not all(len(v) == width for v in column):
            raise CacheError(f"{spec.tag}: not an array of {width} fields")
        fields = [codec.read(list(map(itemgetter(i), column)), bounds, reader) for i, codec in enumerate(spec.codecs)]
        return [self.cls(*values) for values in zip(*fields)]


# ---- writing --------------------------------------------------------------------------------

class _Writer:
    def __init__(self, specs: dict[type, _Spec]):
        self.specs = specs
        self.order: list[int] = []
        self.columns = [[[] for _ in spec.names] for spec in specs.values()]
        self.index: dict[str, int] = {}

    def number(self, value) -> int:
        """The number of a frozen object, written (after its parts) the first time it is met."""
        spec = self.specs.get(type(value))
        if spec is None or not spec.shared:
            raise CacheError(f"cannot cache a {type(value).__qualname__} as a shared object")
        fields = [codec.write(getattr(value, name), self) for name, codec in zip(spec.names, spec.codecs)]
        # equal objects are written once; the key is their text, so 1, 1.0 and true stay apart
        text = json.dumps([spec.number, fields], separators=(",", ":"))
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.order)
            self.order.append(spec.number)
            for column, value in zip(self.columns[spec.number], fields):
                column.append(value)
        return found


def serialise(compiled: CompiledKB, key: str) -> bytes:
    """The cache entry for ``compiled`` under ``key``, as UTF-8 JSON bytes.

    Raises :class:`CacheError` if the knowledge base holds a value the format cannot write
    (a class outside :data:`CLASSES`, a value its field's annotation does not allow, a
    non-finite float).
    """
    try:
        writer = _Writer(_specs())
    except TypeError as err:  # pragma: no cover - tests build the tables
        raise CacheError(str(err)) from None
    kb = _Object(CompiledKB).write(compiled, writer)
    entry = {"format": FORMAT, "version": FORMAT_VERSION, "key": key, "classes": _schema(),
             "order": writer.order, "columns": writer.columns, "kb": kb}
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# ---- reading --------------------------------------------------------------------------------

_ENTRY_FIELDS = {"format", "version", "key", "classes", "order", "columns", "kb"}


def deserialise(data: bytes, key: str) -> CompiledKB:
    """The knowledge base in a cache entry written by :func:`serialise` under ``key``.

    Raises :class:`CacheError` for anything else: bytes that are not UTF-8 JSON, a JSON value
    that is not an entry of this format and version, another key, field names other than the
    running code's, an object of a class outside :data:`CLASSES`, a value of the wrong type
    for its field, a reference to no object or to a later one, any other shape.
    """
    paused = gc.isenabled()
    gc.disable()  # tens of thousands of new objects, none in a cycle: collecting meanwhile only costs
    try:
        return _deserialise(data, key)
    finally:
        if paused:
            gc.enable()


def _deserialise(data: bytes, key: str) -> CompiledKB:
    seen = []

    def one_object(pairs):  # the entry is the only JSON object: the data never holds one
        if seen:
            raise CacheError("a JSON object inside the data")
        seen.append(len(pairs))
        return dict(pairs)

    try:
        entry = json.loads(data, object_pairs_hook=one_object)
    except CacheError:
        raise
    except (ValueError, RecursionError, MemoryError) as err:  # UnicodeDecodeError, JSONDecodeError: ValueErrors
        raise CacheError(f"not JSON: {type(err).__name__}: {err}") from None
    if type(entry) is not dict or entry.get("format") != FORMAT:
        raise CacheError("not a cache entry of oncologic")
    if type(entry.get("version")) is not int or entry["version"] != FORMAT_VERSION:
        raise CacheError(f"format version {entry.get('version')!r}, not {FORMAT_VERSION}")
    if type(entry.get("key")) is not str or entry["key"] != key:
        raise CacheError("an entry for other rule files or another engine")
    if seen[0] != len(_ENTRY_FIELDS) or set(entry) != _ENTRY_FIELDS:
        raise CacheError("not the fields of a cache entry")
    try:
        specs = _specs()
    except TypeError as err:  # pragma: no cover - tests build the tables
        raise CacheError(str(err)) from None
    if entry["classes"] != _schema():
        raise CacheError("written for other classes")
    try:
        compiled = _Reader(specs).read(entry["order"], entry["columns"], entry["kb"])
    except CacheError:
        raise
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError, MemoryError) as err:
        raise CacheError(f"wrong shape: {type(err).__name__}: {err}") from None
    if type(compiled) is not CompiledKB:  # pragma: no cover - _Object(CompiledKB) makes nothing else
        raise CacheError("the entry does not hold a compiled knowledge base")
    return compiled


class _Reader:
    """Reads the table of objects, then the knowledge base. Raises CacheError, or ValueError,
    TypeError, LookupError or AttributeError for data of the wrong shape."""

    def __init__(self, specs: dict[type, _Spec]):
        self.specs = specs
        self.objects: list = []

    def read(self, order, columns, kb) -> CompiledKB:
        specs = list(self.specs.values())
        if type(order) is not list or type(columns) is not list or len(columns) != len(specs):
            raise CacheError("no table of objects")
        if not _INT.issuperset(map(type, order)) or (order and not 0 <= min(order) <= max(order) < len(specs)):
            raise CacheError("an object of no class")
        if not all(specs[number].shared for number in set(order)):
            raise CacheError("a mutable object in the table of objects")
        classes = [spec.cls for spec in specs]
        objects = self.objects = list(map(object.__new__, map(classes.__getitem__, order)))
        numbers = sorted(range(len(order)), key=order.__getitem__)  # by class, ascending: the columns' order
        counts = Counter(order)
        filled = []
        start = 0
        for spec, block in zip(specs, columns):
            count = counts[spec.number]
            mine = numbers[start:start + count]
            start += count
            if type(block) is not list or len(block) != len(spec.names) or \
                    not all(type(column) is list and len(column) == count for column in block):
                raise CacheError(f"{spec.tag}: not {len(spec.names)} columns of {count} values")
            if count:
                values = [codec.read(column, mine, self) for codec, column in zip(spec.codecs, block)]
                filled.append((spec.names, list(map(objects.__getitem__, mine)), values))
        for names, objs, values in filled:  # every value checked: fill the objects in (C loops)
            deque(map(dict.update, map(_DICT_OF, objs), map(zip, repeat(names), zip(*values))), maxlen=0)
        return _Object(CompiledKB).read([kb], [len(objects)], self)[0]


_DICT_OF = attrgetter("__dict__")


# ---- files ----------------------------------------------------------------------------------

def cache_folder(root: Path) -> Path | None:
    """``root`` made ready for cache entries, or None when it must not be used.

    The folder is created (mode 0o700; missing parents as usual); an existing one is used only
    if it is a real directory (not a symlink) owned by this user. Never raises.
    """
    try:
        if not os.path.lexists(root):
            root.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(root, 0o700)
            except FileExistsError:
                pass  # made by another process meanwhile: checked below
        st = os.lstat(root)
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(st.st_mode):  # a symlink, a file, ...
        return None
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return None
    return root


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) \
    | getattr(os, "O_BINARY", 0)


def read_entry(path: Path, limit: int = MAX_ENTRY_BYTES) -> bytes | None:
    """The bytes of the file at ``path``, or None if it is missing, not a regular file (a
    symlink, a FIFO, a device, a folder), larger than ``limit`` or unreadable. Never blocks
    on a FIFO, never follows a symlink at ``path``, never raises OSError."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, max(st.st_size - size, 0) + 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return None if size > limit else b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_entry(path: Path, data: bytes) -> bool:
    """Put ``data`` at ``path`` atomically: written to a new, exclusively created temporary
    file (random name, mode 0o600, never through a symlink) in the same folder, then renamed
    over ``path`` (replacing a symlink there, not its target). Returns whether it worked; on
    any OSError the temporary file is removed and nothing else changes. Never raises OSError."""
    tmp = path.with_name(f".{path.name}.{os.urandom(8).hex()}.tmp")
    try:
        fd = os.open(tmp, _WRITE_FLAGS, 0o600)
    except (OSError, ValueError):
        return False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
