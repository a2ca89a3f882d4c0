"""The CDS Hooks 2.0 service (``oncologic serve``): the engine embedded in an EHR's workflow.

In: HTTP requests from a CDS client — discovery (``GET /cds-services``), a hook call
(``POST /cds-services/{id}``: ``patient-view`` or ``order-select``, with the patient's FHIR
resources as prefetch), feedback on cards, and a browser opening a card's link to the
explanation page (``GET /explain/{ref}/{goal}``). Out: JSON cards, JSON errors (a 4xx for any bad
request) and HTML pages. The layer sits above the api (it evaluates through
:class:`oncologic.api.KnowledgeBase` and writes with :mod:`oncologic.report`) and below the
command line, which only starts it. FastAPI, uvicorn and PyJWT are the ``[server]`` extra,
imported by :mod:`.app` only.
"""
