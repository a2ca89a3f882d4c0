"""Authoring tools for the people who write and review rule files (issue 14).

What flows in and out of each module:

- ``ruletests``: ``*.tests.yaml`` files beside the ``.rules`` files (a patient and what the
  knowledge base must and must not conclude for it) → a report of passed/failed tests and the
  rule coverage (``oncologic test``);
- ``boundaries``: the thresholds the rules compare with, and a rule test's patient → patients just
  below, at and above each threshold and the conclusions that flip (``oncologic test --boundaries``);
- ``graph``: a compiled knowledge base (and a goal) → the graph of what depends on what
  (``oncologic graph``), drawn by :mod:`oncologic.report.pictures`;
- ``diff``: two knowledge-base folders (and patients) → the rules added, removed and changed and
  the conclusions that change with the rule change that caused each (``oncologic diff``);
- ``lsp``: the language server for rule files over stdio (``oncologic lsp``, pygls);
- ``lexer``: the Pygments lexer of the rule language.
"""
