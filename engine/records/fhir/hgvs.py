"""HGVS protein changes (``p.L858R``, ``p.Leu858Arg``, ``NP_005219.2:p.(E746_A750del)``) read as
a whole, never searched in: one change → :class:`ProteinChange`, anything else → ``None``."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ...values import Value

_THREE = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
          "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
          "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Sec": "U", "Pyl": "O", "Ter": "*"}
_AA = "[ACDEFGHIKLMNPQRSTVWYUO*]"
_PREFIX = re.compile(r"^(?:[A-Z]{2}_\d+(?:\.\d+)?(?:\([A-Za-z0-9-]+\))?:)?p\.(?P<body>.+)$")
_SUB = re.compile(rf"^(?P<ref>{_AA})(?P<pos>\d+)(?P<alt>{_AA}|=)$")
_EDIT = re.compile(rf"^(?P<ref>{_AA})(?P<pos>\d+)(?:_(?P<ref2>{_AA})(?P<pos2>\d+))?"
                   rf"(?P<op>delins|del|dup|ins)(?P<seq>{_AA}*)$")
_FS = re.compile(rf"^(?P<ref>{_AA})(?P<pos>\d+){_AA}?fs(?:\*\d*|\*\?)?$")


@dataclass(frozen=True, eq=False, repr=False)
class ProteinChange(Value):
    kind: str          # sub, syn (no change), del, dup, ins, delins, fs
    start: int
    end: int
    net: int           # residues gained (> 0) or lost (< 0); 0 for a substitution or frameshift
    short: str         # the change in one-letter code, without ``p.``: ``L858R``


def protein_change(text: str) -> ProteinChange | None:
    match = _PREFIX.match(text.strip())
    if not match:
        return None
    body = match["body"]
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    body = re.sub("|".join(_THREE), lambda m: _THREE[m.group(0)], body)
    if m := _SUB.match(body):
        pos = int(m["pos"])
        return ProteinChange("syn" if m["alt"] == "=" else "sub", pos, pos, 0, body)
    if m := _FS.match(body):
        pos = int(m["pos"])
        return ProteinChange("fs", pos, pos, 0, body)
    if m := _EDIT.match(body):
        start = int(m["pos"])
        end = int(m["pos2"] or start)
        span, op, seq = end - start + 1, m["op"], m["seq"]
        if end < start or (op in ("del", "dup") and seq) or (op in ("ins", "delins") and not seq) \
                or (op == "ins" and end != start + 1):
            return None
        net = {"del": -span, "dup": span, "ins": len(seq), "delins": len(seq) - span}[op]
        return ProteinChange(op, start, end, net, body)
    return None
