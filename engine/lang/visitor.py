"""One dispatch over AST nodes, in place of ``isinstance`` chains (compare ``ast.NodeVisitor``).

A :class:`Visitor` subclass defines ``visit_<ClassName>`` methods (``visit_Compare``,
``visit_And``, ...); ``visit(node, *args)`` calls the one for the node's class, or
:meth:`Visitor.generic_visit` when there is none (which raises: an unhandled node is a bug
in the caller, not bad input). The method is looked up once per class and visitor type.

Two idioms keep visitors short:

- classes treated alike share one method: ``visit_Or = visit_And`` in the class body;
- a visitor with a default for "every other node" overrides ``generic_visit``.

Extra arguments pass through ``visit`` unchanged (``visit(cond, rule_id)``); state that does
not change during a walk belongs on the visitor instance instead. A visitor with no state
can be one module-level instance (see :func:`oncologic.lang.nodes.to_source`).
"""
from __future__ import annotations

from typing import Any


class Visitor:
    """Dispatch ``visit(node, *args, **kwargs)`` to ``self.visit_<type(node).__name__>``."""

    _dispatch: dict[type, str]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._dispatch = {}

    def visit(self, node: Any, *args, **kwargs):
        kind = type(node)
        name = self._dispatch.get(kind)
        if name is None:
            name = f"visit_{kind.__name__}"
            if not hasattr(self, name):
                name = "generic_visit"
            self._dispatch[kind] = name
        return getattr(self, name)(node, *args, **kwargs)

    def generic_visit(self, node: Any, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} has no visit_{type(node).__name__}")
