"""Pictures: one small graph model and one generator per format (DOT, Mermaid, SVG).

In: a :class:`Graph` — nodes (an id, a ``kind``: concept, setting, recommendation,
not_recommended, contraindication, attribute, rule, condition, goal, note; lines of text, each
``title``, ``plain`` or ``small``; an optional ``status`` holds / fails / undecided that colours
it; ``removed`` / ``possible``: a rule that holds whose regimen a contraindication removes / may
remove), edges (``kind`` depends, removes, may_remove, contradicts, alternative; an optional label) and
clusters (a box around nodes, e.g. one per rule file). The builders are
:mod:`oncologic.authoring.graph` (the knowledge base's dependency graph) and
:mod:`.proof_picture` (one proof or why-not with the patient's values).

Out: text in one format — :func:`to_dot` (Graphviz DOT, HTML-like labels), :func:`to_mermaid`
(a Mermaid ``flowchart``), :func:`to_svg` (the DOT drawn by Graphviz's ``dot`` program through
the ``graphviz`` Python package). :func:`render` picks one by name.

Every text from a rule file or a record is escaped for its format (DOT: ``& < > "`` as HTML
entities inside ``<...>`` labels and ``\\`` ``"`` inside quoted ids; Mermaid: ``# " < > &``
and backquotes as ``#...;`` entity codes inside quoted labels) and its control characters are
written as escapes (:func:`oncologic.errors.visible`). Chinese passes as UTF-8.

Errors: :class:`PictureError` (an :class:`~oncologic.errors.OncologicError`: exit 2) when SVG
is asked for and the ``dot`` program is not installed, or ``dot`` fails.
"""
from __future__ import annotations

import html
import unicodedata
from dataclasses import dataclass, field
from typing import Optional

from ..errors import OncologicError, visible
from ..values import Record

FORMATS = ("dot", "mermaid", "svg")

NO_DOT = ("SVG needs the Graphviz program 'dot', which is not installed (not found on PATH): install it with "
          "'apt-get install graphviz' (Debian, Ubuntu) or 'brew install graphviz' (macOS); "
          "--format dot and --format mermaid work without it")


class PictureError(OncologicError):
    """A picture cannot be drawn (no ``dot`` program for SVG, or ``dot`` failed)."""


# ---- the model ------------------------------------------------------------------------------

@dataclass(eq=False, repr=False)
class Line(Record):
    """One line of a node's label: ``title`` (bold), ``plain`` or ``small`` (grey, smaller)."""

    text: str
    style: str = "plain"


@dataclass(eq=False, repr=False)
class Node(Record):
    id: str
    kind: str
    lines: list[Line] = field(default_factory=list)
    status: Optional[str] = None  # holds | fails | undecided | removed | possible: the colour of a verdict
    cluster: Optional[str] = None


@dataclass(eq=False, repr=False)
class Edge(Record):
    src: str
    dst: str
    kind: str = "depends"  # depends | removes | may_remove | contradicts | alternative
    label: Optional[str] = None


@dataclass(eq=False, repr=False)
class Cluster(Record):
    id: str
    label: str


@dataclass(eq=False, repr=False)
class Graph(Record):
    title: str = ""
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    direction: str = "TB"  # TB (top to bottom) or LR

    def add(self, node: Node) -> Node:
        """Add a node (the first one with an id wins) and return the one in the graph."""
        return self.nodes.setdefault(node.id, node)

    def link(self, src: str, dst: str, kind: str = "depends", label: Optional[str] = None) -> None:
        if src != dst and not any(e.src == src and e.dst == dst and e.kind == kind for e in self.edges):
            self.edges.append(Edge(src, dst, kind, label))


# ---- how each kind and verdict looks -----------------------------------------------------------

# kind -> (DOT shape, DOT style, fill, border, Mermaid opening, Mermaid closing)
KINDS = {
    "goal": ("box", "filled,bold", "#ffffff", "#212121", "[", "]"),
    "concept": ("ellipse", "filled", "#e3f2fd", "#1565c0", "([", "])"),
    "setting": ("hexagon", "filled", "#ede7f6", "#4527a0", "{{", "}}"),
    "recommendation": ("box", "filled,rounded", "#fff8e1", "#e65100", "(", ")"),
    "not_recommended": ("box", "filled,rounded,dashed", "#fce4ec", "#ad1457", "[/", "/]"),
    "contraindication": ("octagon", "filled", "#ffebee", "#b71c1c", "[\\", "/]"),
    "attribute": ("cylinder", "filled", "#f5f5f5", "#616161", "[(", ")]"),
    "rule": ("box", "filled", "#ffffff", "#424242", "[", "]"),
    "condition": ("box", "filled", "#ffffff", "#424242", "[", "]"),
    "note": ("note", "filled", "#fffde7", "#9e9d24", "[", "]"),
}
# status -> (fill, border): green holds, red fails, grey undecided or missing; a rule that holds
# but whose regimen a contraindication removes: orange with a thick red border (``removed``), or
# may remove while undecided: light orange with a thick grey border (``possible``)
STATUS = {"holds": ("#c8e6c9", "#2e7d32"), "fails": ("#ffcdd2", "#c62828"), "undecided": ("#e0e0e0", "#616161"),
          "removed": ("#ffe0b2", "#c62828"), "possible": ("#fff3e0", "#616161")}
THICK = ("removed", "possible")  # statuses drawn with a thick border
# edge kind -> (DOT style, colour, Mermaid arrow)
EDGES = {"depends": ("solid", "#546e7a", "-->"), "alternative": ("solid", "#546e7a", "-->"),
         "removes": ("dashed", "#b71c1c", "-.->"), "contradicts": ("dashed", "#ad1457", "-.->"),
         "may_remove": ("dashed", "#616161", "-.->")}
FONT = "Noto Sans CJK SC,Noto Sans,DejaVu Sans,Helvetica,Arial,sans-serif"


def status_of(holds: Optional[bool]) -> str:
    return "undecided" if holds is None else "holds" if holds else "fails"


def width(text: str) -> int:
    """Columns a text takes: a Chinese character two, others one."""
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def wrap(text: str, columns: int = 46) -> list[str]:
    """``text`` in lines of at most ``columns`` (Chinese counts double), broken at spaces when
    it can be, inside a word (or a run of Chinese) when it cannot."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if width(candidate) <= columns:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for char in word:  # a word longer than a line
            if width(line + char) > columns:
                lines.append(line)
                line = ""
            line += char
    if line or not lines:
        lines.append(line)
    return lines


def _lines(node: Node, columns: int = 46) -> list[Line]:
    return [Line(part, ln.style) for ln in node.lines for part in wrap(visible(ln.text), columns)]


# ---- DOT ----------------------------------------------------------------------------------

def dot_id(text: str) -> str:
    """A quoted DOT id: backslashes and quotes escaped, control characters as escapes."""
    return '"' + visible(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_html(text: str) -> str:
    """Text inside a DOT HTML-like label: ``& < > "`` as entities."""
    return html.escape(visible(text), quote=False).replace('"', "&quot;")


def _dot_label(lines: list[Line]) -> str:
    """An HTML-like label: one table row a line (rows space lines by their own font's height,
    so Chinese in a small font does not overlap the line above)."""
    rows = []
    for line in lines:
        text = dot_html(line.text)
        if line.style == "title":
            text = f"<B>{text}</B>"
        elif line.style == "small":
            text = f'<FONT POINT-SIZE="11" COLOR="#37474f">{text}</FONT>'
        rows.append(f"<TR><TD>{text}</TD></TR>")
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _by_cluster(graph: "Graph") -> dict[Optional[str], list[Node]]:
    """The nodes of each cluster (None: outside every cluster), in the graph's order."""
    out: dict[Optional[str], list[Node]] = {}
    for node in graph.nodes.values():
        out.setdefault(node.cluster if node.cluster in graph.clusters else None, []).append(node)
    return out


def to_dot(graph: Graph) -> str:
    """The graph as Graphviz DOT text."""
    out = ["digraph oncologic {",
           f'  graph [rankdir={graph.direction}, fontname="{FONT}", fontsize=16, labelloc=t, '
           f'nodesep=0.35, ranksep=0.5, newrank=true'
           + (f", label={_dot_label([Line(graph.title, 'title')])}" if graph.title else "") + "];",
           f'  node [fontname="{FONT}", fontsize=13, margin="0.18,0.08", penwidth=1.4];',
           f'  edge [fontname="{FONT}", fontsize=11, arrowsize=0.8];']
    by_cluster = _by_cluster(graph)
    for number, cluster in enumerate(graph.clusters.values()):
        members = by_cluster.get(cluster.id, [])
        if not members:
            continue
        out.append(f"  subgraph cluster_{number} {{")
        out.append(f'    label={_dot_label([Line(cluster.label, "small")])}; style="rounded,dashed"; '
                   f'color="#90a4ae"; fontsize=12;')
        out.extend("    " + _dot_node(node) for node in members)
        out.append("  }")
    out.extend("  " + _dot_node(node) for node in by_cluster.get(None, []))
    for edge in graph.edges:
        style, colour, _ = EDGES.get(edge.kind, EDGES["depends"])
        attrs = [f'style={style}', f'color="{colour}"'] + (["penwidth=2"] if edge.kind not in ("depends", "alternative") else [])
        if edge.label:
            attrs.append(f'label={_dot_label([Line(edge.label, "small")])}')
            attrs.append(f'fontcolor="{colour}"')
        out.append(f"  {dot_id(edge.src)} -> {dot_id(edge.dst)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_node(node: Node) -> str:
    shape, style, fill, border, _, _ = KINDS.get(node.kind, KINDS["rule"])
    if node.status:
        fill, border = STATUS[node.status]
    thick = ", penwidth=3" if node.status in THICK else ""
    return (f'{dot_id(node.id)} [shape={shape}, style="{style}", fillcolor="{fill}", color="{border}"{thick}, '
            f"label={_dot_label(_lines(node))}];")


# ---- Mermaid ------------------------------------------------------------------------------

_MERMAID = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}


def mermaid_text(text: str) -> str:
    """Text inside a quoted Mermaid label: the characters Mermaid reads as markup as entity codes."""
    return "".join(_MERMAID.get(c, c) for c in visible(text))


def _mermaid_label(lines: list[Line]) -> str:
    out = []
    for line in lines:
        text = mermaid_text(line.text)
        out.append(f"<b>{text}</b>" if line.style == "title" else f"<small>{text}</small>" if line.style == "small" else text)
    return '"' + "<br/>".join(out) + '"'


def to_mermaid(graph: Graph) -> str:
    """The graph as a Mermaid flowchart (nodes numbered n0, n1, ... in the graph's order; each
    node's own id in a comment before it)."""
    ids = {key: f"n{number}" for number, key in enumerate(graph.nodes)}
    out = [f"flowchart {graph.direction}"]
    if graph.title:
        out.insert(0, "---\ntitle: " + _mermaid_title(graph.title) + "\n---")
    by_cluster = _by_cluster(graph)
    for number, cluster in enumerate(graph.clusters.values()):
        members = by_cluster.get(cluster.id, [])
        if not members:
            continue
        out.append(f'  subgraph c{number} ["{mermaid_text(cluster.label)}"]')
        for node in members:
            out.extend("    " + line for line in _mermaid_node(node, ids[node.id]))
        out.append("  end")
    for node in by_cluster.get(None, []):
        out.extend("  " + line for line in _mermaid_node(node, ids[node.id]))
    styled = []
    for number, edge in enumerate(graph.edges):
        _, colour, arrow = EDGES.get(edge.kind, EDGES["depends"])
        label = f'|"{mermaid_text(edge.label)}"|' if edge.label else ""
        out.append(f"  {ids[edge.src]} {arrow}{label} {ids[edge.dst]}")
        if edge.kind in ("removes", "contradicts", "may_remove"):
            styled.append(f"  linkStyle {number} stroke:{colour},stroke-width:2px")
    out.extend(styled)
    for kind, (_, style, fill, border, _, _) in KINDS.items():
        dashed = ",stroke-dasharray:4 3" if "dashed" in style else ""
        out.append(f"  classDef {kind} fill:{fill},stroke:{border},color:#212121{dashed}")
    for status, (fill, border) in STATUS.items():
        out.append(f"  classDef {status} fill:{fill},stroke:{border},color:#212121,stroke-width:{4 if status in THICK else 2}px")
    for node in graph.nodes.values():
        out.append(f"  class {ids[node.id]} {node.status or node.kind}")
    return "\n".join(out) + "\n"


def _mermaid_title(text: str) -> str:
    return '"' + visible(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mermaid_node(node: Node, key: str) -> list[str]:
    _, _, _, _, opening, closing = KINDS.get(node.kind, KINDS["rule"])
    comment = "%% " + visible(node.id).replace("\n", " ")
    return [comment, f"{key}{opening}{_mermaid_label(_lines(node))}{closing}"]


# ---- SVG ----------------------------------------------------------------------------------

def dot_program() -> Optional[str]:
    """The path of Graphviz's ``dot`` program, or None."""
    import shutil
    return shutil.which("dot")


def to_svg(graph: Graph) -> str:
    """The graph drawn as SVG by Graphviz's ``dot``. Raises :class:`PictureError` without it."""
    if dot_program() is None:
        raise PictureError(NO_DOT)
    import subprocess
    import graphviz
    try:
        return graphviz.Source(to_dot(graph)).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as err:
        raise PictureError(NO_DOT) from err
    except (subprocess.CalledProcessError, graphviz.CalledProcessError) as err:  # pragma: no cover - a dot bug
        raise PictureError(f"Graphviz 'dot' failed to draw the picture: {err}") from err


def render(graph: Graph, fmt: str) -> str:
    """The graph as text in ``fmt``: dot, mermaid or svg."""
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "svg":
        return to_svg(graph)
    raise PictureError(f"unknown picture format '{fmt}': expected one of {', '.join(FORMATS)}")


# ---- words on the nodes -------------------------------------------------------------------

class Names:
    """The words a picture puts on its nodes, in one language: names (a label the knowledge base
    declares in that language, else the id), regimens item by item, sources as ``000 Table 3``
    (the document's short name: its file name's leading number, else its id), gradings."""

    def __init__(self, checked, lang: str = "en"):
        from .catalogue import catalogue
        self.checked = checked
        self.lang = lang
        self.layout = catalogue(lang)["layout"]
        self.words = catalogue(lang)["pictures"]
        self.by_file = {d.filename: d for d in checked.documents.values()}

    def name(self, ident: str) -> str:
        return self.checked.label(ident, self.lang) or ident

    def regimen(self, ident: str) -> str:
        return " + ".join(self.name(part) for part in ident.split("+"))

    def short(self, document: Optional[str]) -> str:
        """A document (its id or file name) as a short name: ``000`` for ``000_5cbf...txt``."""
        if not document:
            return ""
        doc = self.checked.documents.get(document) or self.by_file.get(document)
        filename = doc.filename if doc else document
        head = filename.split("_", 1)[0].split(".", 1)[0]
        return head if head.isdigit() else (doc.name if doc else document)

    def source(self, document: Optional[str], locator: Optional[str]) -> str:
        """``000 Table 3 (...)``, the locator's words in the language (``表3``) as the text report
        writes them (:func:`.catalogue.locator`)."""
        from .catalogue import locator as in_language
        short = self.short(document)
        if not short:
            return ""
        locator = in_language(locator, self.lang) if locator else locator
        return f"{short} {locator}" if locator else short

    def grade(self, strength, evidence, consensus) -> str:
        bits = []
        if strength:
            bits.append(self.layout["strength"].get(strength, strength))
        if evidence:
            bits.append(self.layout["evidence"].format(level=self.layout["levels"].get(evidence, evidence)))
        if consensus is not None:
            bits.append(self.layout["consensus"].format(consensus=_number(consensus)))
        return self.layout["grade_sep"].join(bits)

    def word(self, key: str, **values) -> str:
        return self.words[key].format(**values)


def _number(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
