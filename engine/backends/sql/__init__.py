"""SQL backends: the compiled Datalog program run as SQL by an embedded or distributed engine.

In: a :class:`~oncologic.compile.datalog.Program` and patients' facts, as for every backend
(:mod:`oncologic.backends.base`). Out: the protocol's rows ``(kind, a, b)``, with the Python
types the reference engine (pyDatalog) gives (``True`` not ``1``, ``int`` not ``float``).

:mod:`.engine` holds :class:`~.engine.SqlEngine`, what every SQL engine shares: the
program's SQL (:func:`oncologic.compile.sql.to_sql`) generated once per backend object and
reused, the subset of statements each question needs (cached, bounded), caller views
translated against the program's relations (:func:`oncologic.compile.sql.clauses_sql`), fact
rows in and rows out. :mod:`.duckdb` implements it on DuckDB (``backend="duckdb"``);
:mod:`.spark` (``backend="spark"``) spreads a batch's patients over Spark partitions, each
evaluated by DuckDB's pieces (or, ``mode="sql"``, implements the seam on Spark SQL). An
engine plugs in by implementing five methods (the seam, :class:`~.engine.SqlEngine`):
``_require`` (import the client packages, or raise naming the extra), ``_open`` (a session
that no other call sees), ``_load`` (one fact table from typed rows), ``_run`` (one
statement), ``_fetch`` (one relation's rows, as an Arrow table) and ``_close`` (drop
everything the session made). Nothing here imports duckdb, sqlglot or pyarrow at import time.
"""
