"""The cache of compiled knowledge bases: plain data, validated when read.

A :class:`~oncologic.compile.compiler.CompiledKB` is written as JSON and read back by a
decoder that can build nothing but plain values and the project's own dataclasses named in
:data:`CLASSES`. Nothing read from the cache is unpickled, evaluated or imported: a cache
entry is untrusted input, and any entry that is not exactly what this version writes
(unreadable, truncated, foreign, of another format version or key, or wrong-shaped) is
refused with :class:`CacheError`, so that the caller rebuilds it.

The encoding is tagged and positional (compact, and fast to decode with the C JSON parser)::

    null, true, false, numbers, strings    themselves
    [0, x, ...]                            a list
    [1, x, ...]                            a tuple
    [2, x, ...]                            a frozenset
    [3, k1, v1, k2, v2, ...]               a dict (keys of any type: int keys stay ints)
    [4, i]                                 entry i of the shared table
    ["Name", f1, f2, ...]                  an instance of the allow-listed dataclass Name,
                                           its persistent fields in declaration order

An entry is one JSON object::

    {"format": "oncologic-compiled-kb", "version": FORMAT_VERSION, "key": KEY,
     "classes": [["Name", [field, ...]], ...], "shared": [row, ...], "kb": row}

(the only JSON object in an entry: an object inside the data makes it wrong-shaped).

``classes`` records the field names each class had when written (checked against the
running code); ``shared`` holds every instance of a frozen dataclass once (``Var("P")``
occurs thousands of times, a rule's condition both in the rules and in the nodes), each row
only referring to rows before it; ``kb`` is the :class:`CompiledKB`. On reading, every field
value is checked against its class's type annotations (refined in :data:`_REFINED` where the
annotation is looser than what the compiler stores) — container kinds, element types,
``None`` where allowed — before the class is constructed.

Files are read and written without following symlinks, reading only regular files of a
bounded size without blocking, and writing through an exclusively created temporary file
renamed onto the entry (:func:`read_entry`, :func:`write_entry`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import stat
import types
import typing
from itertools import chain
from pathlib import Path

from ..lang import nodes as n
from ..model.kb import CheckedKB
from . import datalog as d
from .compiler import CompiledKB, Node
from .plan import Group, Plan

FORMAT = "oncologic-compiled-kb"
FORMAT_VERSION = 1  # bump when the encoding changes (a change of the classes changes the key anyway)
MAX_ENTRY_BYTES = 64 * 1024 * 1024  # the shipped knowledge base takes about 0.4 MB

CLASSES: tuple[type, ...] = (
    # lang/nodes.py: the AST
    n.Pos, n.Quantity, n.Symbol, n.Text, n.DateValue, n.BoolValue, n.TypeSpec, n.Field, n.Document,
    n.Grading, n.Attribute, n.Item, n.Compare, n.OneOf, n.Has, n.IsEmpty, n.IsKnown, n.AnyRecord,
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

# Annotations that say less than the compiler guarantees: checked as these instead.
_REFINED = {
    (d.Atom, "args"): tuple[typing.Union[d.Var, str, int, float, bool], ...],
    (d.Clause, "body"): tuple[d.Literal, ...],
    (Node, "ast"): typing.Optional[typing.Union[n.Condition, str]],
    (CompiledKB, "leaf_rails"): dict[str, tuple[d.Literal, ...]],
    (CompiledKB, "plan"): typing.Optional[Plan],
    (Plan, "conclusions"): tuple[int, ...],
    (Plan, "missing_roots"): tuple[int, ...],
    (Plan, "groups"): dict[int, Group],
    (Group, "members"): frozenset[int],
}

_LIST, _TUPLE, _FROZENSET, _DICT, _SHARED = range(5)


class CacheError(ValueError):
    """A cache entry that cannot be used: unreadable, foreign, stale or wrong-shaped."""


# ---- schema: field names and value checks, from the classes' annotations --------------------

class _Spec:
    """How one allow-listed class is written and checked.

    ``names``: its persistent fields, in order. ``checks``: for each, a check of a *column*
    (a list of that field's values in many instances) against the field's annotation; checks
    run on whole columns so that the work is done by C loops (``issuperset``, ``map``), not
    by a Python call per value.
    """

    __slots__ = ("cls", "tag", "names", "checks", "frozen", "plain")

    def __init__(self, cls: type):
        hints = typing.get_type_hints(cls)
        transient = _TRANSIENT.get(cls, ())
        every = [f.name for f in dataclasses.fields(cls)]
        names = [name for name in every if name not in transient]
        if every[:len(names)] != names:
            raise TypeError(f"{cls.__name__}: transient fields must come last")  # pragma: no cover
        self.cls = cls
        self.tag = cls.__name__
        self.names = tuple(names)
        self.frozen = cls.__dataclass_params__.frozen
        # a frozen class without __post_init__ is filled in directly, not through its __init__
        self.plain = self.frozen and not hasattr(cls, "__post_init__")
        self.checks = tuple(_column(_REFINED.get((cls, name), hints[name])) for name in names)

    def valid(self, rows: list[list]) -> bool:
        """Whether every row (the field values of one instance) fits the class."""
        width = len(self.names)
        if any(len(row) != width for row in rows):
            return False
        return all(check([row[i] for row in rows]) for i, check in enumerate(self.checks))


Check = typing.Callable[[list], bool]


def _column(hint) -> Check:
    """A check that every value of a column fits the annotation ``hint``."""
    outer, inner = _kind(hint)
    if outer is None:
        return _true
    if inner is None:
        return lambda col: outer.issuperset(map(type, col))
    return lambda col: outer.issuperset(map(type, col)) and inner(col)


def _kind(hint) -> tuple[frozenset | None, Check | None]:
    """For an annotation: the classes a value may have (None: any), and a check of a column of
    such values' elements (None when the classes say it all). Raises TypeError for an
    annotation it cannot check."""
    if hint is object or hint is typing.Any:
        return None, None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        kinds = [_kind(a) for a in args]
        if any(outer is None for outer, _ in kinds):
            return None, None
        allowed = frozenset().union(*(outer for outer, _ in kinds))
        deep = [(outer, inner) for outer, inner in kinds if inner is not None]
        if not deep:
            return allowed, None
        if sum(len(outer) for outer, _ in deep) != len(frozenset().union(*(outer for outer, _ in deep))):
            raise TypeError(f"cannot check values against {hint!r}")  # pragma: no cover - two kinds of tuple
        return allowed, lambda col: all(inner([v for v in col if type(v) in outer]) for outer, inner in deep)
    if origin is None:
        if hint is None or hint is type(None):
            return frozenset([type(None)]), None
        if isinstance(hint, type):
            return (frozenset([float, int]) if hint is float else frozenset([hint])), None  # PEP 484: int is a float
        raise TypeError(f"cannot check values against {hint!r}")  # pragma: no cover
    if origin in (tuple, list, frozenset) and (origin is not tuple or not args or args[-1] is Ellipsis):
        if not args:
            return frozenset([origin]), None
        items = _column(args[0])
        return frozenset([origin]), lambda col: items(list(chain.from_iterable(col)))
    if origin is tuple:  # tuple[A, B, C]
        width = len(args)
        places = [_column(a) for a in args]
        return frozenset([tuple]), lambda col: all(len(v) == width for v in col) and all(
            check([v[i] for v in col]) for i, check in enumerate(places))
    if origin is dict:
        if not args:
            return frozenset([dict]), None
        keys, values = _column(args[0]), _column(args[1])
        return frozenset([dict]), lambda col: keys(list(chain.from_iterable(map(dict.keys, col)))) and values(
            list(chain.from_iterable(map(dict.values, col))))
    raise TypeError(f"cannot check values against {hint!r}")  # pragma: no cover


def _true(_col) -> bool:
    return True


_SPECS: dict[str, _Spec] | None = None


def _specs() -> dict[str, _Spec]:
    """The allow-list as decoding tables, made on first use (reading annotations takes a few ms)."""
    global _SPECS
    if _SPECS is None:
        _SPECS = {cls.__name__: _Spec(cls) for cls in CLASSES}
    return _SPECS


def _schema() -> list:
    return [[tag, list(spec.names)] for tag, spec in _specs().items()]


# ---- writing --------------------------------------------------------------------------------

def serialise(compiled: CompiledKB, key: str) -> bytes:
    """The cache entry for ``compiled`` under ``key``, as UTF-8 JSON bytes.

    Raises :class:`CacheError` if the knowledge base holds a value the format cannot
    represent (a class outside :data:`CLASSES`, a set, a non-finite float).
    """
    specs = {spec.cls: spec for spec in _specs().values()}
    shared: list = []
    index: dict[str, int] = {}

    def enc(v):
        t = type(v)
        if v is None or t is str or t is int or t is bool:
            return v
        if t is float:
            if v != v or v in (float("inf"), float("-inf")):
                raise CacheError(f"cannot cache the number {v!r}")
            return v
        if t is list:
            return [_LIST, *map(enc, v)]
        if t is tuple:
            return [_TUPLE, *map(enc, v)]
        if t is frozenset:  # in a fixed order, so that equal knowledge bases give equal entries
            return [_FROZENSET, *sorted(map(enc, v), key=lambda x: json.dumps(x, sort_keys=True))]
        if t is dict:
            out = [_DICT]
            for k, x in v.items():
                out.append(enc(k))
                out.append(enc(x))
            return out
        spec = specs.get(t)
        if spec is None:
            raise CacheError(f"cannot cache a {t.__module__}.{t.__qualname__}")
        row = [spec.tag, *(enc(getattr(v, name)) for name in spec.names)]
        if not spec.frozen:
            return row
        # one row for equal immutable values; the key is the row's text, so 1, 1.0 and true stay apart
        text = json.dumps(row, separators=(",", ":"))
        i = index.get(text)
        if i is None:
            i = index[text] = len(shared)
            shared.append(row)
        return [_SHARED, i]

    root = enc(compiled)
    entry = {"format": FORMAT, "version": FORMAT_VERSION, "key": key, "classes": _schema(), "shared": shared, "kb": root}
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# ---- reading --------------------------------------------------------------------------------

def deserialise(data: bytes, key: str) -> CompiledKB:
    """The knowledge base in a cache entry written by :func:`serialise` under ``key``.

    Raises :class:`CacheError` for anything else: bytes that are not UTF-8 JSON, a JSON value
    that is not an entry of this format and version, another key, field names other than the
    running code's, a class outside :data:`CLASSES`, a value of the wrong type for its field,
    any other shape than :func:`serialise` writes.
    """
    objects = []

    def one_object(pairs):  # the entry is the only JSON object: data never holds one
        if objects:
            raise CacheError("a JSON object inside the data")
        objects.append(pairs)
        return dict(pairs)

    try:
        entry = json.loads(data, object_pairs_hook=one_object)
    except CacheError:
        raise
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CacheError(f"not JSON: {err}") from None
    if type(entry) is not dict or entry.get("format") != FORMAT:
        raise CacheError("not a cache entry of oncologic")
    if type(entry.get("version")) is not int or entry["version"] != FORMAT_VERSION:
        raise CacheError(f"format version {entry.get('version')!r}, not {FORMAT_VERSION}")
    if type(entry.get("key")) is not str or entry["key"] != key:
        raise CacheError("an entry for other rule files or another engine")
    if len(objects[0]) != 6 or set(entry) != {"format", "version", "key", "classes", "shared", "kb"}:
        raise CacheError("not the fields of a cache entry")
    if entry["classes"] != _schema():
        raise CacheError("written for other classes")
    if type(entry["shared"]) is not list or type(entry["kb"]) is not list:
        raise CacheError("the shared table or the knowledge base is not an array")
    try:
        compiled = _decode(entry["shared"], entry["kb"], _specs())
    except CacheError:
        raise
    except (ValueError, TypeError, LookupError, RecursionError) as err:
        raise CacheError(f"wrong shape: {type(err).__name__}: {err}") from None
    if type(compiled) is not CompiledKB:
        raise CacheError("the entry does not hold a compiled knowledge base")
    return compiled


def _decode(rows: list, root: list, specs: dict[str, _Spec]):
    """The value ``root`` stands for, after the shared table ``rows``. Raises CacheError,
    or ValueError, TypeError, LookupError or RecursionError for data of the wrong shape.

    The shared rows are checked together, class by class, once all are read (an object is
    only filled in before: no code of the project runs on it until then); every other object
    is checked before it is made."""
    shared: list = []
    pending: dict[str, list] = {tag: [] for tag in specs}  # field values of the shared rows, per class
    new = object.__new__
    REF = _SHARED

    def dec(x: list, rows_of: dict | None):
        tag = x[0]
        if tag.__class__ is str:
            spec = specs[tag]
            args = [v if v.__class__ is not list else shared[v[1]] if v[0] == REF and len(v) == 2 and v[1] >= 0
                    else dec(v, None) for v in x[1:]]
            if rows_of is not None:
                rows_of[tag].append(args)
            elif not spec.valid([args]):
                raise CacheError(f"{tag}: fields of the wrong number or type")
            if spec.plain:
                obj = new(spec.cls)
                obj.__dict__.update(zip(spec.names, args))
                return obj
            return spec.cls(*args)
        if tag.__class__ is not int:
            raise CacheError("an array without a tag")
        if tag == REF:
            if len(x) != 2 or x[1].__class__ is not int or x[1] < 0:
                raise CacheError("a reference to no shared entry")
            return shared[x[1]]
        items = [v if v.__class__ is not list else shared[v[1]] if v[0] == REF and len(v) == 2 and v[1] >= 0
                 else dec(v, None) for v in x[1:]]
        if tag == _TUPLE:
            return tuple(items)
        if tag == _LIST:
            return items
        if tag == _FROZENSET:
            return frozenset(items)
        if tag == _DICT:
            if len(items) % 2:
                raise CacheError("a dict with a key and no value")
            return dict(zip(items[0::2], items[1::2]))
        raise CacheError(f"unknown tag {tag!r}")

    for row in rows:
        if row.__class__ is not list or not row or row[0].__class__ is not str or not specs[row[0]].plain:
            raise CacheError("a shared entry is not an immutable object")
        shared.append(dec(row, pending))
    for tag, found in pending.items():
        if found and not specs[tag].valid(found):
            raise CacheError(f"{tag}: fields of the wrong number or type")
    return dec(root, None)


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
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
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
