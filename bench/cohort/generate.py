"""A seeded synthetic cohort over the shipped vocabulary (issue 15, point 5).

    python bench/cohort/generate.py N [--seed S] [--out FILE.jsonl] [--parquet] [--coverage]

Everything comes from the knowledge base, nothing from a list written here:

- the **attributes** (their types, enumerations, ranges, record fields) and the **item
  catalogue** of ``oncologic.load().compiled.checked``;
- which cancer an attribute belongs to: the folder of the file that declares it
  (``facts/lung/...`` → ``lung``; a folder that is no value of the required enum attribute
  ``cancer``, such as ``facts/common``, → every cancer);
- the **values worth drawing**: the constants the compiled program compares each attribute
  (or record field) with — thresholds of ``<``/``>=``…, values of ``val(P, "a", c)``, items of
  ``has``/``maybe``/``member`` — so the rules are reached: a number is drawn at a threshold or
  one step either side of it, a set of items mostly from the items the rules ask about.

Shape of the cohort: 70 % lung, 30 % HCC (``--mix``); for each patient 10–30 % of the
attributes of its cancer are left out (a whole number of them drawn uniformly in that range per patient); the required ones never.
Quantities are written as text in their canonical unit (``"90d"``, ``"12.5mm"``, ``"50%"``); a
derived duration (``tfi = progression_date - first_line_end_date``) agrees with its dates when
all three are present. Same seed and size, same bytes (one ``random.Random(seed)`` stream,
every set sorted before it is drawn from).

Every record is validated with :func:`oncologic.records.patient.validate` as it is written;
the count is checked (an invalid record is a bug of this generator: exit status 1 naming it).

``--parquet`` also writes ``FILE.parquet`` (pyarrow; columns typed from the attribute types:
sets as ``list<string>``, records as ``list<struct>``, quantities as text with their unit),
for the reader benchmark. ``--coverage`` evaluates the cohort with the yardstick
(:mod:`yardstick`) and prints the share of rules and recommendations that hold for at least
one patient.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
DEFAULT_MIX = "lung=0.7,hcc=0.3"
MISSING = (0.10, 0.30)
EPOCH = dt.date(2024, 1, 1)
QUANTITY_UNITS = {"duration": "d", "length": "mm", "percent": "%"}  # canonical (oncologic.lang.units.UNITS)


# -- the vocabulary and the program's constants --

def _sorted(values) -> list:
    """Deterministic order for a set of constants of mixed types."""
    return sorted(values, key=lambda v: (type(v).__name__, v))


class Vocabulary:
    """What the generator draws from, read from a compiled knowledge base."""

    def __init__(self, compiled):
        from oncologic.compile.datalog import Atom, Comparison, Negation, Var

        self.checked = ck = compiled.checked
        self.attributes = ck.attributes
        cancer = [a for a in ck.attributes.values() if a.required and a.type.kind == "enum"]
        if len(cancer) != 1:
            raise SystemExit(f"expected one required enum attribute (the cancer), found {[a.name for a in cancer]}")
        self.cancer = cancer[0].name
        self.cancers = cancer[0].type.values
        self.by_cancer: dict[str, list[str]] = {c: [] for c in self.cancers}
        for attr in ck.attributes.values():
            if attr.required:
                continue
            folder = Path(attr.pos.file).parent.name
            for c in ([folder] if folder in self.cancers else self.cancers):
                self.by_cancer[c].append(attr.name)
        # constants per (attribute, field or None), items per attribute
        consts: dict[tuple, set] = {}
        items: dict[str, set] = {}
        for clause in compiled.program.all_clauses():
            bound: dict[str, tuple] = {}
            for lit in clause.body:
                atom = lit.atom if isinstance(lit, Negation) else lit
                if isinstance(atom, Atom) and len(atom.args) > 1 and isinstance(atom.args[1], str):
                    attr = atom.args[1]
                    if atom.pred == "val":
                        target, value = (attr, None), atom.args[2]
                    elif atom.pred == "field" and isinstance(atom.args[3], str):
                        target, value = (attr, atom.args[3]), atom.args[4]
                    elif atom.pred in ("has", "maybe", "member") and isinstance(atom.args[2], str):
                        items.setdefault(attr, set()).add(atom.args[2])
                        continue
                    else:
                        continue
                    if isinstance(value, Var):
                        bound[value.name] = target
                    else:
                        consts.setdefault(target, set()).add(value)
                elif isinstance(lit, Comparison) and lit.left.name in bound and not isinstance(lit.right, Var):
                    consts.setdefault(bound[lit.left.name], set()).add(lit.right)
        self.consts = {k: _sorted(v) for k, v in consts.items()}
        self.items = {k: _sorted(v) for k, v in items.items()}
        self.catalogue = list(ck.items)

    # -- drawing values --

    def draw(self, rng: random.Random, name: str, spec, field: str | None = None):
        kind = spec.kind
        hints = self.consts.get((name, field), [])
        if kind in ("enum",):
            return rng.choice(spec.values)
        if kind == "bool":
            return rng.random() < 0.5
        if kind in ("int", "number") or kind in QUANTITY_UNITS:
            number = self._number(rng, spec, hints)
            if kind in QUANTITY_UNITS:
                return f"{_num(number)}{QUANTITY_UNITS[kind]}"
            return number
        if kind == "date":
            return (EPOCH + dt.timedelta(days=rng.randrange(730))).isoformat()
        if kind == "set":
            return rng.sample(spec.values, rng.choice((0, 1, 1, 1, 2)))
        if kind == "item_set":
            asked = self.items.get(name, [])
            out: list[str] = []
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                pool = asked if asked and rng.random() < 0.8 else self.catalogue
                x = rng.choice(pool)
                if x not in out:
                    out.append(x)
            return out
        if kind == "record_list":
            return [{f.name: self.draw(rng, name, f.type, f.name) for f in spec.fields}
                    for _ in range(rng.choice((0, 1, 1, 2)))]
        if kind == "string":
            return f"s{rng.randrange(10 ** 6)}"
        raise SystemExit(f"attribute {name}: no way to draw a value of kind {kind!r}")

    @staticmethod
    def _number(rng: random.Random, spec, hints: list):
        low = spec.low.value if spec.low is not None else None
        high = spec.high.value if spec.high is not None else None
        numbers = [h for h in hints if isinstance(h, (int, float)) and not isinstance(h, bool)]
        if numbers:
            t = rng.choice(numbers)
            step = rng.choice((-1, 0, 0, 1, "half", "double"))
            x = t / 2 if step == "half" else t * 2 if step == "double" else t + step
        else:
            base = low if low is not None else 0
            x = base + rng.randrange(0, 11 if high is None else int(high - base) + 1)
        if low is not None:
            x = max(x, low)
        if high is not None:
            x = min(x, high)
        if spec.kind == "int":
            return int(round(x))
        return int(x) if float(x).is_integer() else round(float(x), 4)


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def record(vocab: Vocabulary, rng: random.Random, index: int, seed: int, mix: list[tuple[str, float]]) -> dict:
    """One patient: its cancer by ``mix``, 10–30 % of that cancer's attributes left out."""
    r = rng.random()
    cancer = mix[-1][0]
    for name, share in mix:
        if r < share:
            cancer = name
            break
        r -= share
    names = vocab.by_cancer[cancer]
    missing = set(rng.sample(names, rng.randint(math.ceil(MISSING[0] * len(names)), math.floor(MISSING[1] * len(names)))))
    out: dict = {"id": f"gen{seed}-{index:07d}", vocab.cancer: cancer}
    for name in names:
        if name in missing:
            continue
        attr = vocab.attributes[name]
        out[name] = vocab.draw(rng, name, attr.type)
    for name in names:  # a derived duration and its two dates agree
        attr = vocab.attributes[name]
        if attr.derive and all(d in out for d in attr.derive):
            later, earlier = attr.derive
            days = int(float(out[name][:-1])) if name in out else rng.choice(
                [int(h) for h in vocab.consts.get((name, None), [90]) if isinstance(h, (int, float))] or [90]) + rng.choice((-1, 0, 1))
            days = max(days, 0)
            out[later] = (dt.date.fromisoformat(out[earlier]) + dt.timedelta(days=days)).isoformat()
            if name in out:
                out[name] = f"{days}d"
    return out


def parse_mix(text: str, cancers) -> list[tuple[str, float]]:
    mix = []
    for part in text.split(","):
        name, _, share = part.partition("=")
        if name not in cancers:
            raise SystemExit(f"--mix: {name!r} is no cancer of the knowledge base ({', '.join(cancers)})")
        mix.append((name, float(share)))
    if abs(sum(s for _, s in mix) - 1) > 1e-9:
        raise SystemExit("--mix: the shares must add up to 1")
    return mix


def default_path(n: int, seed: int) -> Path:
    return DATA / f"cohort-s{seed}-n{n}.jsonl"


def generate(n: int, seed: int = 1, out: Path | None = None, parquet: bool = False, mix: str = DEFAULT_MIX,
             compiled=None) -> Path:
    """Write ``n`` records to ``out`` (default ``data/cohort-s{seed}-n{n}.jsonl``), each
    validated; returns the path. ``parquet``: also ``out`` with suffix ``.parquet``."""
    from oncologic.records.patient import validate
    from oncologic.errors import PatientError

    if compiled is None:
        import oncologic
        compiled = oncologic.load().compiled
    vocab = Vocabulary(compiled)
    shares = parse_mix(mix, vocab.cancers)
    out = Path(out) if out else default_path(n, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    writer = _ParquetWriter(out.with_suffix(".parquet"), vocab) if parquet else None
    valid = 0
    tmp = out.with_suffix(out.suffix + ".part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        chunk: list[dict] = []
        for i in range(n):
            rec = record(vocab, rng, i, seed, shares)
            try:
                validate(rec, vocab.checked, f"{out}:{i + 1}", line=i + 1)
            except PatientError as err:
                raise SystemExit(f"generator bug: record {i + 1} does not validate: {err}") from None
            valid += 1
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
            if writer:
                chunk.append(rec)
                if len(chunk) == 50_000:
                    writer.write(chunk)
                    chunk = []
        if writer:
            writer.write(chunk)
            writer.close()
    assert valid == n, (valid, n)
    tmp.replace(out)
    return out


class _ParquetWriter:
    """Row groups of records, columns typed from the attribute types (pyarrow)."""

    def __init__(self, path: Path, vocab: Vocabulary):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise SystemExit("--parquet needs pyarrow: pip install pyarrow") from None
        self.pa = pa

        def arrow(spec):
            k = spec.kind
            if k == "bool":
                return pa.bool_()
            if k == "int":
                return pa.int64()
            if k == "number":
                return pa.float64()
            if k in ("set", "item_set"):
                return pa.list_(pa.string())
            if k == "record_list":
                return pa.list_(pa.struct([(f.name, arrow(f.type)) for f in spec.fields]))
            return pa.string()  # enum, string, date, quantities with their unit

        self.schema = pa.schema([(a.name, arrow(a.type)) for a in vocab.attributes.values()])
        self.tmp = path.with_suffix(".parquet.part")
        self.path = path
        self.writer = pq.ParquetWriter(self.tmp, self.schema)

    def write(self, records: list[dict]) -> None:
        if records:
            self.writer.write_table(self.pa.Table.from_pylist(records, schema=self.schema))

    def close(self) -> None:
        self.writer.close()
        self.tmp.replace(self.path)


def coverage(path: Path, compiled) -> dict:
    """How many rules (by id) and recommended regimens hold for at least one patient of the
    cohort at ``path`` (their canonical node is true), by the yardstick."""
    from yardstick import Yardstick, read_batches

    ys = Yardstick(compiled.program)
    true_nodes: set[int] = set()
    patients = 0
    for batch in read_batches(path, compiled, 10_000):
        patients += len(batch)
        for rows in ys.answer(batch):
            true_nodes.update(a for kind, a, b in rows if kind == "truth" and b is True)
    canonical = {n.id: n.canonical for n in compiled.nodes}
    rule_of = {rid: canonical[node] for rid, node in compiled.rule_node.items()}
    regimens = [canonical[node] for node in compiled.regimens]
    return {
        "patients": patients,
        "rules": len(rule_of), "rules_holding": sum(node in true_nodes for node in rule_of.values()),
        "recommendations": len(regimens), "recommendations_holding": sum(node in true_nodes for node in regimens),
        "never": sorted(rid for rid, node in rule_of.items() if node not in true_nodes),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int, help="number of patients")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="the JSONL file (default: bench/cohort/data/cohort-sSEED-nN.jsonl)")
    ap.add_argument("--parquet", action="store_true", help="also write the cohort as Parquet (pyarrow)")
    ap.add_argument("--mix", default=DEFAULT_MIX, help=f"shares of the cancers (default {DEFAULT_MIX})")
    ap.add_argument("--coverage", action="store_true", help="print the share of rules/recommendations that hold")
    args = ap.parse_args(argv)
    import oncologic
    compiled = oncologic.load().compiled
    path = generate(args.n, args.seed, args.out, args.parquet, args.mix, compiled)
    print(f"{path}: {args.n} records, all valid")
    if args.coverage:
        sys.path.insert(0, str(HERE))
        c = coverage(path, compiled)
        print(f"rules holding for some patient: {c['rules_holding']}/{c['rules']} "
              f"({100 * c['rules_holding'] / c['rules']:.0f} %); recommendations: "
              f"{c['recommendations_holding']}/{c['recommendations']} "
              f"({100 * c['recommendations_holding'] / c['recommendations']:.0f} %)")
        if c["never"]:
            print("never holding: " + ", ".join(c["never"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
