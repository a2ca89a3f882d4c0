"""Reasoning: the engine's verdicts → conclusions, missing data, proofs, why-not, what-if.

In: a compiled knowledge base, a backend and a patient.
Out: the contract's result objects (:mod:`.results`), structured and free of sentences:
:mod:`.evaluate` asks the backend (Kleene's three-valued verdicts), :mod:`.exact` settles
what Kleene's logic leaves undecided by a bounded case analysis over the completions of the
missing data, :mod:`.missing` names the data that would decide what is undecided,
:mod:`.conclude` builds ``recommend``'s result, :mod:`.explain` proofs and why-not,
:mod:`.suggest` the verified what-if changes. Words are :mod:`oncologic.report`'s.
"""
