"""Backends: engines that run a compiled Datalog program on patients' facts.

In: a :class:`~oncologic.compile.datalog.Program` and the facts of one patient or a batch.
Out: the rows of the views a plan asks for (verdicts, removals, matches, missing data).
:mod:`.base` defines the protocol; :mod:`.pydatalog` implements it with pyDatalog, the only
module in the package that imports pyDatalog.
"""
