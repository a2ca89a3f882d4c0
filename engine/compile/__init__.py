"""Compilation: the checked model → a backend-neutral Datalog program with query plans.

In: a :class:`~oncologic.model.kb.CheckedKB`.
Out: a :class:`~oncologic.compile.compiler.CompiledKB`: the Datalog IR (:mod:`.datalog`,
plain data, printable), the numbered nodes the explanations walk, the query plans of each
command (:mod:`.plan`) and the fact schema a patient record becomes (:mod:`.facts`).
:mod:`.build` runs the whole front end (lang → model → compile) on a folder of rule files and
keeps the result in a cache of plain data (:mod:`.cache`).
"""
