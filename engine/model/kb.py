"""The checked knowledge base: the model every later stage reads.

:class:`CheckedKB` holds the resolved vocabulary (documents, attributes, items with their
class hierarchy, concepts and settings) and the rules with resolved conditions and canonical
units. It is made by :func:`oncologic.model.checks.check` from the AST modules of all rule
files; the compiler, the record validator and the explanations read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..values import Record
from ..lang import nodes as n


def ancestors(items: dict, item: str) -> list[str]:
    """The classes ``item`` belongs to in ``items`` (name -> :class:`~oncologic.lang.nodes.Item`),
    transitively, nearest first; not the item itself. Unknown names have none."""
    seen: list[str] = []
    stack = list(items[item].isa) if item in items else []
    while stack:
        cls = stack.pop(0)
        if cls not in seen:
            seen.append(cls)
            stack.extend(items[cls].isa if cls in items else ())
    return seen


@dataclass(eq=False, repr=False)
class CheckedKB(Record):
    """The resolved knowledge base: vocabulary plus rules with resolved conditions."""

    documents: dict[str, n.Document] = field(default_factory=dict)
    attributes: dict[str, n.Attribute] = field(default_factory=dict)
    items: dict[str, n.Item] = field(default_factory=dict)
    concepts: dict[str, str] = field(default_factory=dict)  # name -> "concept" | "setting"
    rules: list[n.Rule] = field(default_factory=list)
    gradings: list[n.Grading] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    systems: dict[str, str] = field(default_factory=dict)  # code system name -> URI

    def coded(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        """Every declared code: (system URI, code) -> (attribute or item name, enum/set value or
        None for the attribute or item itself). Made once the knowledge base is checked."""
        table = self.__dict__.get("_coded")
        if table is None:
            table = {}
            for attr in self.attributes.values():
                for c in attr.codes:
                    table.setdefault((self.systems.get(c.system, c.system), c.code), (attr.name, None))
                for value, c in attr.value_codes:
                    table.setdefault((self.systems.get(c.system, c.system), c.code), (attr.name, value))
            for item in self.items.values():
                for c in item.codes:
                    table.setdefault((self.systems.get(c.system, c.system), c.code), (item.name, None))
            self.__dict__["_coded"] = table
        return table

    def ancestors(self, item: str) -> list[str]:
        """The classes an item belongs to, transitively (not the item itself)."""
        return ancestors(self.items, item)

    def members(self, cls: str) -> set[str]:
        """The item itself and every item that belongs to it, transitively (a new set)."""
        table = self.__dict__.get("_members")
        if table is None or table[0] != len(self.items):  # made once the vocabulary is complete
            below: dict[str, set[str]] = {}
            for name in self.items:
                for c in [name, *self.ancestors(name)]:
                    below.setdefault(c, set()).add(name)
            table = self.__dict__["_members"] = (len(self.items), below)
        return set(table[1].get(cls, ()))  # the item itself is among them (when it is one)

    def rules_for(self, name: str) -> list[n.Rule]:
        return [r for r in self.rules if r.kind in ("concept", "setting") and r.name == name]

    def value_label(self, attribute: str, value: str, lang: str = "en") -> str | None:
        """The label of an enum or set value of ``attribute`` (``value sd label zh "..."``)."""
        attr = self.attributes.get(attribute)
        for name, labels in attr.values if attr else ():
            if name == value:
                return n.label_of(labels, lang)
        return None

    def label(self, name: str, lang: str = "en") -> str | None:
        for table in (self.items, self.attributes):
            if name in table:
                return n.label_of(table[name].labels, lang)
        for rule in self.rules_for(name):
            found = n.label_of(rule.labels, lang)
            if found:
                return found
        return None
