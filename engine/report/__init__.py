"""Reports: result objects → words for a person, in English or Chinese.

In: the result objects of :mod:`oncologic.reason.results`.
Out: rich text trees and tables (:mod:`.text`).
"""
