"""Reports: result objects → words for a person, in English or Chinese.

In: the result objects of :mod:`oncologic.reason.results`.
Out: sentences (:mod:`.words`: every condition, change and verdict, and the contract's
English ``text`` fields, filled by the API) and rich text trees and tables (:mod:`.text`).
"""
