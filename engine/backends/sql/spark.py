"""The Spark backend (``backend="spark"``): the compiled program's Spark SQL, run by Spark.

For cohorts when one machine is not enough: the same statements as DuckDB's
(:func:`oncologic.compile.sql.to_sql` in the ``spark`` dialect), run by Spark SQL on a local
Spark (``master="local[*]"``, the default) or a cluster (``master="spark://host:7077"``,
``yarn``, ``k8s://...``: ``oncologic cohort ... --backend spark --spark-master URL``).

How a call runs
    Each call (one :meth:`~.engine.SqlEngine.answer` batch, one ``ask`` or ``holds``) gets
    its own Spark session (``SparkSession.newSession()``: its own temporary views, the
    process's one ``SparkContext`` shared) and its own scratch folder, removed at the end;
    two calls, threads or backend objects never see each other's tables. The fact tables go
    in as Arrow tables (``spark.createDataFrame(pyarrow.Table)``); every derived predicate is
    written as Parquet into the scratch folder and read back as a temporary view, which
    cuts the plan's lineage: each statement is planned against files, never against the
    ever-growing plan of the predicates below it.

What was measured (``local[2]``, 2-core machine shared with other jobs, the shipped
program's 530 statements, 59 bundled patients; answers equal to pyDatalog's): session start
5–20 s (JVM), fact tables 2–8 s, statements about 0.4 s each, one statement (the union of
``answer`` over some 800 predicate files) far more: 409 s in all. What failed or was slower:

- ``CACHE TABLE name AS SELECT ...`` per predicate: 0.7 s each, then
  ``OutOfMemoryError: Java heap space`` with 2 GB of driver memory (the cached plans grow);
- ``DataFrame.localCheckpoint()`` per predicate: ``NoSuchElementException: key not found``
  on some predicate (a Spark bug with that plan shape);
- one Parquet table per dependency level (23 levels, the predicates of a level one job as a
  ``UNION ALL`` partitioned by predicate): 533 s — Catalyst plans a union of a hundred
  queries slower than a hundred queries.

So Spark here is a backend for very large batches on a cluster: its fixed cost per call
(minutes, about 530 Spark jobs) does not depend on the batch size, and ``batch`` is large.

Options (``oncologic.backends.create("spark", program, master=..., config=...)``)
    ``master``: the Spark master URL (default ``local[*]``); ``config``: more Spark settings,
    ``{"spark.executor.memory": "8g", ...}``; ``scratch``: the folder for the per-call
    Parquet tables (default: the system's temporary folder; on a cluster a folder every
    executor and the driver can read, e.g. ``hdfs:///tmp/oncologic`` — it is then not removed
    by this backend, each call's subfolder is dropped with Hadoop's file system).

The Spark session is made once per process (one JVM, one ``SparkContext``): the first
backend's ``master`` and ``config`` win; a later backend asking for another ``master``
raises :class:`~oncologic.errors.OncologicError`.

Requires the ``spark`` extra (pyspark, sqlglot, pyarrow) and Java 17 or later on ``PATH``
(or ``JAVA_HOME``); without them, creating the backend raises
:class:`~oncologic.errors.OncologicError` naming ``pip install oncologic[spark]`` or Java.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
import uuid
from typing import Any, Sequence

from ...compile.datalog import Program
from ...compile.sql import Relation
from ...errors import OncologicError
from .engine import SqlEngine

_ARROW_TYPES = {"key": "int64", "int": "int64", "text": "string", "float": "float64", "bool": "bool_"}

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
    """Spark SQL (:mod:`oncologic.backends.sql`), locally or on a cluster (module docstring
    for the options, the strategy and what it costs)."""

    name = "spark"
    dialect = "spark"
    batch = 100_000  # patients per call for cohorts: the fixed cost is per call; the driver holds a batch's facts and rows

    def __init__(self, program: Program, master: str = "local[*]", config: dict | None = None,
                 scratch: str | None = None):
        if not isinstance(master, str) or not master:
            raise OncologicError(f"the Spark master is a URL such as local[*] or spark://host:7077, not {master!r}")
        super().__init__(program)
        self.master = master
        self.config = {**DEFAULTS, **{str(k): str(v) for k, v in (config or {}).items()}}
        self.scratch = scratch

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

            builder = SparkSession.builder.master(self.master).appName("oncologic")
            for key, value in self.config.items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
            _SESSION.update(spark=spark, master=self.master)
            return spark

    # -- the seam (oncologic.backends.sql.engine) --
    def _open(self, size: int) -> Any:
        spark = self._spark().newSession()
        if self.scratch is None:
            return _Call(spark, tempfile.mkdtemp(prefix="oncologic-spark-"), local=True)
        return _Call(spark, f"{self.scratch.rstrip('/')}/{uuid.uuid4().hex}", local=False)

    def _load(self, session: _Call, relation: Relation, rows: list[tuple]) -> None:
        import pyarrow as pa

        columns = list(zip(*rows)) if rows else [()] * len(relation.columns)
        table = pa.table({col: pa.array(values, type=getattr(pa, _ARROW_TYPES[kind])())
                          for (col, _, kind), values in zip(relation.columns, columns)})
        session.spark.createDataFrame(table).createOrReplaceTempView(relation.name)
        session.views.append(relation.name)

    def _run(self, session: _Call, statement: str) -> None:
        name, query = _split(statement)
        path = f"{session.scratch}/{name}"
        session.spark.sql(query).write.mode("overwrite").parquet(path)
        session.spark.read.parquet(path).createOrReplaceTempView(name)
        session.views.append(name)

    def _fetch(self, session: _Call, query: str) -> Sequence[Sequence]:
        table = session.spark.sql(query).toArrow()
        return [column.to_pylist() for column in table.columns]

    def _close(self, session: _Call) -> None:
        catalog = session.spark.catalog
        for name in session.views:
            catalog.dropTempView(name)
        if session.local:
            shutil.rmtree(session.scratch, ignore_errors=True)
        else:
            jvm = session.spark.sparkContext._jvm
            path = jvm.org.apache.hadoop.fs.Path(session.scratch)
            path.getFileSystem(session.spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)


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


__all__ = ["DEFAULTS", "SparkEngine", "java_available"]
