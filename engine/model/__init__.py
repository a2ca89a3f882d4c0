"""The checked knowledge base: AST modules → one resolved model.

In: the AST modules of every rule file (:mod:`oncologic.lang`).
Out: a :class:`~oncologic.model.kb.CheckedKB` (vocabulary, class hierarchy, concepts,
rules with resolved names and canonical units) and diagnostics: unknown names with a
did-you-mean, type and unit mismatches, circular concepts, missing sources, grades that
disagree with the document's grading scheme (:mod:`.checks`).
"""
