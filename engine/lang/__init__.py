"""The rule language: source text → parse tree → AST.

In: the text of ``*.rules`` files and the grammar (``grammar/oncologic.lark``).
Out: one :class:`~oncologic.lang.nodes.Module` of immutable AST nodes per file, and
:class:`~oncologic.errors.Diagnostic` objects for syntax and structure errors.

Modules: :mod:`.parser` (lark, LALR; syntax errors in words an author reads),
:mod:`.builder` (a lark ``Transformer``: parse tree → AST), :mod:`.nodes` (the AST),
:mod:`.visitor` (one dispatch over condition nodes), :mod:`.units` (UCUM units of durations,
lengths and percentages). Depends on nothing else in the package but :mod:`oncologic.errors`.
"""
