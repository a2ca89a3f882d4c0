"""Write the bundled patients (examples/patients) as a cohort in every format `oncologic cohort`
reads: patients.jsonl, patients.json (an array), patients.csv and patients.parquet, beside this
script. Run it again after changing a bundled patient:

    python examples/cohort/make_cohort.py

The files are made from the records as read, in file-name order, by the package's own writers
(oncologic.records.cohorts.csv_cells, parquet_schema, parquet_row), so each format reads back
to the same records.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import oncologic
from oncologic.records.cohorts import csv_cells, parquet_row, parquet_schema
from oncologic.records.patient import read_records
from oncologic.records.reading import patient_files

HERE = Path(__file__).resolve().parent
PATIENTS = HERE.parent / "patients"


def bundled() -> list[dict]:
    """The raw record of every bundled patient, in file-name order."""
    kb = oncologic.load()
    out = []
    for path in patient_files([PATIENTS]):
        for where, raw in read_records(path):
            patient = kb.patient(raw, where)  # valid, and with YAML's numbers as plain numbers
            out.append({"id": patient.id, **{k: v for k, v in patient.given.items() if k != "id"}})
    return out


def write_all(records: list[dict], folder: Path) -> None:
    """``records`` as patients.jsonl, .json, .csv and .parquet in ``folder``."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    kb = oncologic.load().compiled.checked
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (folder / "patients.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (folder / "patients.json").write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    columns = list(dict.fromkeys(key for r in records for key in r))
    with open(folder / "patients.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow(csv_cells(r))
    schema = parquet_schema(kb)
    pq.write_table(pa.Table.from_pylist([parquet_row(r, kb) for r in records], schema=schema), folder / "patients.parquet")


if __name__ == "__main__":
    write_all(bundled(), Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"wrote {HERE}/patients.{{jsonl,json,csv,parquet}}")
