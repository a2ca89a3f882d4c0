"""The Spark backend (``backend="spark"``): a cohort spread over a Spark cluster (or a local
Spark), each share evaluated by the same generated SQL.

Two modes (option ``mode``):

``"partitioned"`` (the default): Spark distributes, DuckDB evaluates
    Every clause of the compiled program is patient-local: each atom of a body joins on the
    patient key (argument 0), so one patient's answers depend on that patient's facts only.
    So a batch's facts become one Spark DataFrame (:func:`facts_table`, sent as Arrow:
    ``spark.createDataFrame(pyarrow.Table)``), hash-partitioned by patient key
    (``repartition(n, "pid")``: a patient's facts are never split), and every partition is
    evaluated by :func:`evaluate_partition` inside the executor (``DataFrame.mapInArrow``):
    the partition's fact tables are split back out and the program's DuckDB SQL (the
    statements :class:`~oncologic.backends.sql.duckdb.DuckDBEngine` runs, made once per
    backend object on the driver) runs on an embedded DuckDB
    (:func:`oncologic.backends.sql.duckdb.evaluate`, the DuckDB backend's own pieces), at most
    ``chunk`` patients at a time (default 10 000, so an executor's memory stays bounded),
    one DuckDB thread per task. The rows come back as Arrow (``toArrow``) and are decoded
    like DuckDB's. One Spark job per question; the answers are DuckDB's, which the
    faithfulness tests hold equal to pyDatalog's. It is the same SQL, distributed by Spark.

    What it needs on a cluster: ``pip install oncologic[spark]`` (it includes duckdb and
    pyarrow) on the driver *and on every executor*, the same oncologic version, Python and
    Java 17+. What travels: the patients as Arrow data; the partition function
    (:func:`evaluate_partition`, with the plan's SQL text and column names as arguments),
    which pyspark itself serializes with cloudpickle — our own code, referenced by module
    name, never patient data. Nothing received is executed beyond that function. On a local
    master the Python workers are this interpreter (``PYSPARK_PYTHON`` is set to
    ``sys.executable`` unless it is already set); on a cluster set ``PYSPARK_PYTHON`` to the
    executors' Python that has oncologic installed.

``"sql"``: the program as Spark SQL
    The same statements as DuckDB's (:func:`oncologic.compile.sql.to_sql` in the ``spark``
    dialect), each run by Spark SQL. Each call gets its own Spark session
    (``SparkSession.newSession()``: its own temporary views) and scratch folder, removed at
    the end. The fact tables go in as Arrow; every derived predicate is written as Parquet
    into the scratch folder and read back as a temporary view, which cuts the plan's
    lineage. Measured (``local[2]``, 2-core machine shared with other jobs, 530 statements,
    59 bundled patients; answers equal to pyDatalog's): session start 5–20 s (JVM), fact
    tables 2–8 s, statements about 0.4 s each, one statement (the union of ``answer`` over
    some 800 predicate files) far more: 409 s in all — a fixed cost of minutes per call
    whatever the batch size. What failed or was slower: ``CACHE TABLE`` per predicate
    (``OutOfMemoryError: Java heap space`` with 2 GB of driver memory); ``localCheckpoint()``
    per predicate (``NoSuchElementException: key not found``, a Spark bug with that plan
    shape); one Parquet table per dependency level (533 s: Catalyst plans a union of a
    hundred queries slower than a hundred queries). Kept for clusters without Python
    workers' DuckDB, and as a second, independent execution of the same SQL.

Options (``oncologic.backends.create("spark", program, **options)``, ``oncologic cohort
--backend spark --spark-master URL --spark-mode MODE --spark-partitions N``)
    ``master``: the Spark master URL (default ``local[*]``; ``spark://host:7077``, ``yarn``,
    ``k8s://...``); ``config``: more Spark settings, ``{"spark.executor.memory": "8g", ...}``;
    ``mode``: ``"partitioned"`` or ``"sql"``; ``partitions``: partitions per batch (default:
    the context's ``defaultParallelism``, at most one per patient); ``chunk``: patients per
    DuckDB evaluation inside a partition (default 10 000); ``scratch`` (``mode="sql"``): the
    folder for the per-call Parquet tables (default: the system's temporary folder; on a
    cluster a folder every executor and the driver can read, e.g. ``hdfs:///tmp/oncologic`` —
    each call's subfolder is then dropped with Hadoop's file system).

The Spark session is made once per process (one JVM, one ``SparkContext``): the first
backend's ``master`` and ``config`` win; a later backend asking for another ``master``
raises :class:`~oncologic.errors.OncologicError`.

Requires the ``spark`` extra (pyspark, duckdb, sqlglot, pyarrow) and Java 17 or later on
``PATH`` (or ``JAVA_HOME``); without them, creating the backend raises
:class:`~oncologic.errors.OncologicError` naming ``pip install oncologic[spark]`` or Java.
Measured numbers of both modes: README, "Cohorts on Spark".
"""
from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import threading
import uuid
from typing import Any, Iterator, Sequence

from ...compile.datalog import Program
from ...compile.sql import EDB_KINDS, Relation, fact_columns
from ...errors import OncologicError
from .engine import SqlEngine

MODES = ("partitioned", "sql")
_SPARK_TYPES = {"key": "bigint", "int": "bigint", "text": "string", "float": "double", "bool": "boolean"}
# the fact relations, in the order of their code in the facts frame's ``rel`` column
_FACTS = tuple(Relation(name, list(kinds), edb=True) for name, kinds in EDB_KINDS.items())

# the settings a local Spark needs for many small jobs; a caller's ``config`` overrides them
DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.autoBroadcastJoinThreshold": str(64 << 20),
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.files.openCostInBytes": str(16 << 20),
    "spark.driver.memory": "4g",
}

_SESSION_LOCK = threading.Lock()
_SESSION: dict[str, Any] = {}  # "spark": the process's SparkSession, "master": its master URL


class _Call:
    """One call's Spark session (its own temporary views) and scratch folder."""

    def __init__(self, spark, scratch: str, local: bool):
        self.spark = spark
        self.scratch = scratch
        self.local = local
        self.views: list[str] = []


class SparkEngine(SqlEngine):
    """Spark (:mod:`oncologic.backends.sql`), locally or on a cluster (module docstring for
    the modes, the options and what they cost).

    ``batch`` (patients per :meth:`answer` call of a cohort): 20 000 in the partitioned mode
    (the driver holds a batch's facts and its ~230 answer rows per patient), 100 000 with
    ``mode="sql"`` (its fixed cost of minutes is per call)."""

    name = "spark"
    dialect = "spark"
    batch = 20_000
    SQL_BATCH = 100_000

    def __init__(self, program: Program, master: str = "local[*]", config: dict | None = None,
                 scratch: str | None = None, mode: str = "partitioned", partitions: int | None = None,
                 chunk: int | None = None):
        if not isinstance(master, str) or not master:
            raise OncologicError(f"the Spark master is a URL such as local[*] or spark://host:7077, not {master!r}")
        if mode not in MODES:
            raise OncologicError(f"the Spark mode is partitioned or sql, not {mode!r}")
        for option, value in (("partitions", partitions), ("chunk", chunk)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise OncologicError(f"the Spark option {option} is a whole number of at least 1, not {value!r}")
        super().__init__(program)  # checks pyspark, sqlglot, pyarrow and Java
        if mode == "partitioned":
            try:
                import duckdb  # noqa: F401  (each partition is evaluated by DuckDB)
            except ImportError:
                raise OncologicError("the spark backend's partitioned mode evaluates each partition with DuckDB, "
                                     "which is not installed: pip install oncologic[spark] (or mode='sql')") from None
            self.dialect = "duckdb"  # the program's SQL (made on first use) as the executors' DuckDB runs it
        self.master = master
        self.config = {**DEFAULTS, **{str(k): str(v) for k, v in (config or {}).items()}}
        self.scratch = scratch
        self.mode = mode
        self.partitions = partitions
        self.chunk = chunk or _CHUNK
        if mode == "sql":
            self.batch = self.SQL_BATCH

    @classmethod
    def _require(cls) -> None:
        try:
            import pyarrow  # noqa: F401
            import pyspark  # noqa: F401
            import sqlglot  # noqa: F401
        except ImportError as err:
            raise OncologicError(f"the spark backend needs the Python packages pyspark, sqlglot and pyarrow "
                                 f"({err.name or err} is missing): pip install oncologic[spark]") from None
        if not java_available():
            raise OncologicError("the spark backend needs Java 17 or later: no `java` on PATH and no JAVA_HOME "
                                 "(install a JDK, e.g. apt-get install openjdk-17-jre-headless)")

    # -- the process's Spark session --
    def _spark(self):
        with _SESSION_LOCK:
            spark = _SESSION.get("spark")
            if spark is not None:
                if _SESSION["master"] != self.master:
                    raise OncologicError(f"this process already runs Spark on {_SESSION['master']}; "
                                         f"a second master ({self.master}) needs another process")
                return spark
            from pyspark.sql import SparkSession

            if self.master.startswith("local") and "PYSPARK_PYTHON" not in os.environ:
                os.environ["PYSPARK_PYTHON"] = sys.executable  # local Python workers: this interpreter, with oncologic
            builder = SparkSession.builder.master(self.master).appName("oncologic")
            for key, value in self.config.items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
            _SESSION.update(spark=spark, master=self.master)
            return spark

    # -- the partitioned mode: one Spark job per question, DuckDB in each partition --
    def _session(self, batch: Sequence):
        """As :meth:`SqlEngine._session <oncologic.backends.sql.engine.SqlEngine._session>`;
        in the partitioned mode the session is the batch's facts as one Spark DataFrame,
        hash-partitioned by patient key, and ``ask(plan)`` is one Spark job: every partition
        evaluates the plan's (DuckDB) statements on its own patients (:func:`evaluate_partition`)
        and the rows come back to the driver as Arrow."""
        if self.mode == "sql":
            return super()._session(batch)
        spark = self._spark()
        parts = max(1, min(self.partitions or spark.sparkContext.defaultParallelism, len(batch)))
        facts = spark.createDataFrame(facts_table(batch)).repartition(parts, "pid")
        chunk = self.chunk

        def ask(plan) -> Any:
            steps, rel, query = plan
            job = functools.partial(evaluate_partition, steps=steps, query=query, columns=_columns(rel), chunk=chunk)
            schema = ", ".join(f"{col} {_SPARK_TYPES[kind]}" for col, _, kind in rel.columns)
            return facts.mapInArrow(job, schema).toArrow()
        return None, ask

    # -- the seam (oncologic.backends.sql.engine), mode="sql" --
    def _open(self, size: int) -> Any:
        spark = self._spark().newSession()
        if self.scratch is None:
            return _Call(spark, tempfile.mkdtemp(prefix="oncologic-spark-"), local=True)
        return _Call(spark, f"{self.scratch.rstrip('/')}/{uuid.uuid4().hex}", local=False)

    def _load(self, session: _Call, relation: Relation, columns: list[list]) -> None:
        from .duckdb import arrow_table

        session.spark.createDataFrame(arrow_table(relation, columns)).createOrReplaceTempView(relation.name)
        session.views.append(relation.name)

    def _run(self, session: _Call, statement: str) -> None:
        name, query = _split(statement)
        path = f"{session.scratch}/{name}"
        session.spark.sql(query).write.mode("overwrite").parquet(path)
        session.spark.read.parquet(path).createOrReplaceTempView(name)
        session.views.append(name)

    def _fetch(self, session: _Call, query: str) -> Any:
        return session.spark.sql(query).toArrow()

    def _close(self, session: _Call | None) -> None:
        if session is None:  # the partitioned mode: nothing kept between jobs
            return
        catalog = session.spark.catalog
        for name in session.views:
            catalog.dropTempView(name)
        if session.local:
            shutil.rmtree(session.scratch, ignore_errors=True)
        else:
            jvm = session.spark.sparkContext._jvm
            path = jvm.org.apache.hadoop.fs.Path(session.scratch)
            path.getFileSystem(session.spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


# -- the partitioned mode's data: one facts frame in, a relation's rows out --

_CHUNK = 10_000  # patients per DuckDB evaluation inside a partition (DuckDBEngine.batch: memory stays bounded)


def _fact_column(i: int, kind: str) -> str:
    """The facts frame's column for argument ``i`` of kind ``kind`` of any fact relation."""
    return f"a{i}_{kind}"


def _columns(relation: Relation) -> tuple[tuple[str, str], ...]:
    """``relation``'s columns as plain ``(name, kind)`` pairs (what a partition's job carries)."""
    return tuple((col, kind) for col, _, kind in relation.columns)


def facts_table(batch: Sequence) -> Any:
    """The facts of ``batch`` (a list of :func:`~oncologic.compile.facts.patient_facts`
    lists; patient keys 0, 1, ... in order) as one ``pyarrow.Table``, a row per fact: ``pid``
    (int64, the patient key), ``rel`` (int8, the fact relation's index in
    :data:`oncologic.compile.sql.EDB_KINDS`), then one column per argument position and kind,
    ``a{i}_{kind}`` (null where a relation has no such argument). Raises :class:`ValueError`
    as :func:`~oncologic.compile.sql.fact_columns`."""
    import pyarrow as pa

    from .duckdb import arrow_table

    columns = fact_columns(enumerate(batch))
    parts = []
    for code, relation in enumerate(_FACTS):
        table = arrow_table(relation, columns.pop(relation.name))
        table = table.rename_columns(["pid" if i == 0 else _fact_column(i, kind) for _, i, kind in relation.columns])
        parts.append(table.append_column("rel", pa.array([code] * table.num_rows, type=pa.int8())))
    out = pa.concat_tables(parts, promote_options="default")  # each relation's missing columns: nulls
    # one chunk per column: pyspark's (4.x) createDataFrame(pyarrow.Table) turned nulls of an
    # all-null chunk (no validity buffer) into values of the neighbouring rows
    # (tests/test_spark.py::test_facts_frame_round_trips_through_spark)
    return out.select(["pid", "rel"] + [c for c in out.column_names if c not in ("pid", "rel")]).combine_chunks()


def evaluate_partition(batches: Iterator, steps: Sequence[tuple[str, str]], query: str,
                       columns: Sequence[tuple[str, str]], chunk: int = _CHUNK) -> Iterator:
    """What each Spark partition runs (``DataFrame.mapInArrow``, in a Python worker of an
    executor): ``batches`` are the partition's rows of :func:`facts_table` (Arrow record
    batches, every fact of each of its patients: the frame is partitioned by ``pid``);
    its patients are evaluated ``chunk`` at a time by
    :func:`oncologic.backends.sql.duckdb.evaluate` (the fact tables split back out of the
    frame, the plan's ``steps`` run, ``query`` fetched), and the rows are yielded as record
    batches with ``columns`` (``(name, kind)`` pairs: the queried relation's columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .duckdb import arrow_type, evaluate

    schema = pa.schema([(name, arrow_type(kind)) for name, kind in columns])
    found = list(batches)
    if not found:
        return
    table = pa.Table.from_batches(found)
    pids = pc.unique(table["pid"]).sort()
    for start in range(0, len(pids), chunk):
        part = table if len(pids) <= chunk else table.filter(pc.is_in(table["pid"], value_set=pids[start:start + chunk]))
        tables = {}
        for code, relation in enumerate(_FACTS):
            rows = part.filter(pc.equal(part["rel"], pa.scalar(code, pa.int8())))
            names = ["pid" if i == 0 else _fact_column(i, kind) for _, i, kind in relation.columns]
            tables[relation.name] = rows.select(names).rename_columns([col for col, _, _ in relation.columns])
        result = evaluate(tables, steps, query, size=len(pids[start:start + chunk]), threads=1)
        yield from result.rename_columns(schema.names).cast(schema).to_batches()


@functools.lru_cache(maxsize=4096)
def _split(statement: str) -> tuple[str, str]:
    """``CREATE TABLE name AS query`` (what :func:`~oncologic.compile.sql.to_sql` makes) ->
    ``(name, query)``; :class:`ValueError` for any other statement."""
    from sqlglot import exp, parse_one

    tree = parse_one(statement, read="spark")
    if not isinstance(tree, exp.Create) or tree.expression is None or not isinstance(tree.this, exp.Table):
        raise ValueError(f"not a CREATE TABLE ... AS statement: {statement[:80]}")
    return tree.this.name, tree.expression.sql(dialect="spark")


def java_available() -> bool:
    """Whether a Java runtime is reachable the way pyspark looks for one (``JAVA_HOME``, else
    ``java`` on ``PATH``)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.path.exists(os.path.join(home, "bin", "java"))
    return shutil.which("java") is not None


__all__ = ["DEFAULTS", "MODES", "SparkEngine", "evaluate_partition", "facts_table", "java_available"]
