"""The pyDatalog backend: the reference engine, one patient or a batch per query."""
