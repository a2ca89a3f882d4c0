"""The limits on rule files: explicit, checked before the work that needs them, and reported
as ``FILE:LINE:COL: error: ... (limit N)`` (docs/language.md, "Limits").

The passes over conditions (building, checking, compiling, explaining) walk them recursively;
these bounds keep every such walk far inside Python's recursion limit, so a deep rule is a
located error at ``check`` and never a RecursionError (an internal error, exit 1) later.
Long flat chains (`a and b and ... `, `a or b or ...`) are not limited: they are one level.
"""

# Levels of nesting in one written condition: each `not`, each `and`/`or` inside another
# (by parentheses) and each `any ... where` is a level. `not not x` is 2, `a and (b or c)` is 2.
MAX_NESTING = 50

# Levels of a rule's condition with every concept it uses written out: a concept use counts
# its concept's depth plus one. A chain `c1 if c0`, `c2 if c1`, ... of n concepts is n deep.
MAX_DEPTH = 100
