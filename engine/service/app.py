"""The CDS Hooks 2.0 service as a FastAPI application.

Endpoints: ``GET /cds-services`` (discovery), ``POST /cds-services/{id}`` (a hook call),
``POST /cds-services/{id}/feedback``, ``GET /explain/{ref}/{goal}`` (the explanation page a
card links to) and ``GET /openapi.json``. Every CDS Hooks endpoint needs the client's JWT
(:mod:`.auth`) unless the service runs with ``insecure_dev``; the explanation page is reached by
its unguessable link (:mod:`.store`). Every refusal is a JSON object ``{"error": CODE,
"message": TEXT, ...}`` with a 4xx status; a 500 is only an internal error (logged).

The hook's cards (:mod:`.cards`): ``oncologic-patient-view`` — everything the guidelines
conclude for the patient; ``oncologic-order-select`` — the regimen of the drafted
MedicationRequests checked against that (recommended with its grading, not recommended,
contraindicated, possible pending data, or not covered).
"""
from __future__ import annotations

import datetime
import logging
from contextlib import asynccontextmanager
from typing import Any, Literal, Optional
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import GoalError, OncologicError, PatientError
from . import page
from .auth import AuthError, Verifier
from .cards import CardWriter
from .prefetch import HookError, ordered_drugs, record_of, templates
from .store import Feedback, Visit, Visits

log = logging.getLogger("oncologic.service")

SERVICES = {
    "oncologic-patient-view": {
        "hook": "patient-view",
        "title": "oncologic: guideline recommendations for the patient",
        "description": "Recommendations, statements against, contraindications and possibilities (with the "
                       "data that would decide them) from the knowledge base's oncology guidelines, each "
                       "with its grading, source and rule chain.",
    },
    "oncologic-order-select": {
        "hook": "order-select",
        "title": "oncologic: the ordered regimen against the guidelines",
        "description": "The regimen of the drafted MedicationRequests (RxNorm codes) checked against the "
                       "guidelines for the patient: recommended (with grading), not recommended, "
                       "contraindicated, possible pending data, or not covered.",
    },
}
CONTEXT = {  # the context fields a hook requires (CDS Hooks 2.0 hook definitions), with their JSON type
    "patient-view": {"userId": str, "patientId": str},
    "order-select": {"userId": str, "patientId": str, "selections": list, "draftOrders": dict},
}


class HookRequest(BaseModel):
    """A CDS Hooks 2.0 request."""

    model_config = ConfigDict(extra="allow")
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: Optional[str] = None
    fhirAuthorization: Optional[dict[str, Any]] = None
    context: dict[str, Any]
    prefetch: Optional[dict[str, Optional[dict[str, Any]]]] = None
    extension: Optional[dict[str, Any]] = None


class Coding(BaseModel):
    model_config = ConfigDict(extra="allow")
    system: Optional[str] = None
    code: Optional[str] = None
    display: Optional[str] = None


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")
    reason: Optional[Coding] = None
    userComment: Optional[str] = None


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1)


class FeedbackEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: Optional[list[AcceptedSuggestion]] = None
    overrideReason: Optional[OverrideReason] = None
    outcomeTimestamp: datetime.datetime


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackEntry] = Field(min_length=1)


class Link(BaseModel):
    label: str
    url: str
    type: Literal["absolute", "smart"]


class Source(BaseModel):
    label: str
    url: Optional[str] = None
    topic: Optional[Coding] = None


class Card(BaseModel):
    uuid: Optional[str] = None
    summary: str = Field(max_length=139)
    detail: Optional[str] = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    links: list[Link] = []


class CardsResponse(BaseModel):
    cards: list[Card]


class Service(BaseModel):
    hook: str
    id: str
    title: Optional[str] = None
    description: str
    prefetch: dict[str, str] = {}


class Discovery(BaseModel):
    services: list[Service]


class Error(BaseModel):
    model_config = ConfigDict(extra="allow")
    error: str
    message: str


ENGINE_THREADS = 2  # threads answering requests: the engine holds the GIL, and each thread keeps its own database
ERRORS = {status: {"model": Error} for status in (400, 401, 404, 412, 422)}
BEARER = HTTPBearer(auto_error=False, description="CDS Hooks 2.0: a JWT signed by the CDS client (RS384 or ES384)")


def _error(status: int, error: str, message: str, **extra) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status, headers=headers)


MAX_BODY = 32 * 1024 * 1024  # bytes: a hook request with a whole patient's prefetch; Synthea bundles run to a few MB


class Around:
    """ASGI middleware calling ``around(scope, receive, send, app)``."""

    def __init__(self, app, around):
        self.app, self.around = app, around

    async def __call__(self, scope, receive, send):
        await self.around(scope, receive, send, self.app)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused with 413 and a JSON error
    before the application reads any of it — by its Content-Length, or, for a chunked body, as
    soon as the bytes received pass the limit. A body within the limit is handed on unchanged."""

    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                chunks = None
                replay = [message]
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._refuse(scope, receive, send)
            more = message.get("more_body", False)
        else:
            replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed():
            return replay.pop(0) if replay else await receive()
        await self.app(scope, replayed, send)

    async def _refuse(self, scope, receive, send):
        response = _error(413, "too_large", f"the request body is over {self.limit // (1024 * 1024)} MiB")
        await response(scope, receive, send)


def create_app(kb, verifier: Optional[Verifier] = None, base_url: Optional[str] = None,
               insecure_dev: bool = False, max_body: int = MAX_BODY) -> FastAPI:
    """The service over ``kb`` (a :class:`~oncologic.api.KnowledgeBase`). ``verifier`` checks
    the clients' tokens; None only with ``insecure_dev``. ``base_url``: the service's public
    URL (behind a proxy), the ``aud`` tokens must carry and the base of the cards' links; by
    default the URL each request reached. ``max_body``: the largest request body in bytes
    (larger: 413 with a JSON error, before anything is parsed)."""
    if verifier is None and not insecure_dev:
        raise ValueError("a verifier is required unless insecure_dev")
    @asynccontextmanager
    async def lifespan(app):
        import anyio.to_thread
        anyio.to_thread.current_default_thread_limiter().total_tokens = ENGINE_THREADS
        yield

    app = FastAPI(title="oncologic CDS Hooks service", version="2.0", lifespan=lifespan,
                  description="CDS Hooks 2.0 service of the oncologic guideline engine; it reads only prefetched "
                              "FHIR resources and never queries the FHIR server.",
                  docs_url=None, redoc_url=None)  # the interactive docs load scripts from a third-party host
    app.add_middleware(BodyLimit, limit=max_body)

    async def token_first(scope, receive, send, inner):
        """Every /cds-services request's token is verified before its body is read: a client
        without a valid token gets its 401 without the service parsing (or holding) its body."""
        if scope["type"] == "http" and not insecure_dev and scope["path"].startswith("/cds-services"):
            try:
                authorized(Request(scope), None)
            except AuthError as exc:
                return await _error(exc.status, "unauthorized" if exc.status == 401 else "unavailable",
                                    exc.message)(scope, receive, send)
            scope.setdefault("state", {})["token_checked"] = True
        await inner(scope, receive, send)
    app.add_middleware(Around, around=token_first)  # added last: runs first, before BodyLimit
    visits, feedback = Visits(), Feedback()
    checked = kb.compiled.checked
    app.state.feedback = feedback
    base = base_url.rstrip("/") if base_url else None

    def root(request: Request) -> str:
        return base or str(request.base_url).rstrip("/")

    def authorized(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Security(BEARER)) -> None:
        """The CDS client's token: its ``aud`` is the URL of the endpoint called (for feedback,
        that or the service's own URL). Checked once, by :func:`token_first` before the body is
        read (its ``jti`` is accepted once); here only for a route it did not see."""
        if insecure_dev or request.scope.get("state", {}).get("token_checked"):
            return
        path = request.url.path.rstrip("/")
        urls = [root(request) + path]
        if path.endswith("/feedback"):
            urls.append(root(request) + path[: -len("/feedback")])
        verifier.verify(request.headers.get("authorization"), urls[0] if len(urls) == 1 else urls)

    @app.exception_handler(AuthError)
    async def _auth(request: Request, exc: AuthError):
        return _error(exc.status, "unauthorized" if exc.status == 401 else "unavailable", exc.message)

    @app.exception_handler(HookError)
    async def _hook(request: Request, exc: HookError):
        return _error(exc.status, exc.error, exc.message, **exc.extra)

    @app.exception_handler(PatientError)
    async def _patient(request: Request, exc: PatientError):
        return _error(422, "bad_patient_data", str(exc))

    @app.exception_handler(GoalError)
    async def _goal(request: Request, exc: GoalError):
        return _error(404, "unknown_goal", str(exc))

    @app.exception_handler(OncologicError)
    async def _oncologic(request: Request, exc: OncologicError):
        return _error(422, "bad_request", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        details = [{"loc": [str(x) for x in e.get("loc", ())], "message": str(e.get("msg", ""))} for e in errors]
        if errors and errors[0].get("type") == "json_invalid":
            at = details[0]["loc"][1] if len(details[0]["loc"]) > 1 else "?"
            return _error(400, "bad_request", f"body: not JSON ({details[0]['message']} at character {at})")
        first = details[0] if details else {"loc": [], "message": "invalid request"}
        loc = first["loc"]
        where = (".".join(loc[1:]) or "body") if loc[:1] == ["body"] else ".".join(loc) or "request"
        return _error(400, "bad_request", f"{where}: {first['message']}", details=details[:20])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        names = {404: "not_found", 405: "method_not_allowed"}
        return _error(exc.status_code, names.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):  # the last line of defence
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"internal error: {type(exc).__name__} (logged)")

    @app.get("/cds-services", response_model=Discovery, responses=ERRORS, tags=["CDS Hooks"])
    def discovery(request: Request, _: None = Depends(authorized)):
        """CDS Hooks discovery: the services, their hooks and prefetch templates."""
        prefetch = templates(checked)
        return JSONResponse({"services": [{"hook": s["hook"], "id": ident, "title": s["title"],
                                           "description": s["description"], "prefetch": prefetch}
                                          for ident, s in SERVICES.items()]})

    @app.post("/cds-services/{service_id}", response_model=CardsResponse, responses=ERRORS, tags=["CDS Hooks"])
    def call(service_id: str, body: HookRequest, request: Request, lang: Optional[Literal["en", "zh"]] = None,
             _: None = Depends(authorized)):
        """A hook call: the cards for the patient (``lang``: the cards' language; by default
        the Accept-Language header's, else English)."""
        service = SERVICES.get(service_id)
        if service is None:
            raise HookError(404, "unknown_service", f"no service {service_id[:80]!r}: the services are "
                                                    f"{', '.join(SERVICES)}")
        if body.hook != service["hook"]:
            raise HookError(400, "wrong_hook", f"service {service_id} answers the {service['hook']} hook, "
                                               f"not {body.hook[:80]!r}")
        for name, kind in CONTEXT[body.hook].items():
            value = body.context.get(name)
            if not isinstance(value, kind) or (kind is str and not value):
                raise HookError(400, "bad_context", f"context.{name} is required for {body.hook}: "
                                                    f"{'a non-empty string' if kind is str else 'an array' if kind is list else 'an object'}")
        language = lang or _accepted(request.headers.get("accept-language", ""))
        patient_id = body.context["patientId"]
        raw = body.model_dump()
        record, provenance = record_of(checked, raw, patient_id)
        person = kb.patient(record, source=f"hook {body.hookInstance[:60]}")
        result = kb.evaluate(person, language)
        ref = visits.add(Visit(record, provenance, body.hook, body.hookInstance))
        here = root(request)

        def link(goal: str) -> str:
            return f"{here}/explain/{ref}/{quote(goal, safe='+.')}?lang={language}"

        writer = CardWriter(kb, person, language, link)
        if body.hook == "patient-view":
            cards = writer.patient_view(result)
        else:
            drugs, shown, unknown = ordered_drugs(checked, body.context["draftOrders"])
            cards = ([writer.order(result, "+".join(drugs), shown)] if drugs else []) + \
                ([writer.unknown_codes(unknown)] if unknown else [])
        return JSONResponse({"cards": cards})

    @app.post("/cds-services/{service_id}/feedback", responses=ERRORS, tags=["CDS Hooks"])
    def give_feedback(service_id: str, body: FeedbackRequest, request: Request,
                      _: None = Depends(authorized)) -> dict:
        """Feedback on cards (accepted or overridden); kept in memory."""
        if service_id not in SERVICES:
            raise HookError(404, "unknown_service", f"no service {service_id[:80]!r}")
        for i, entry in enumerate(body.feedback):
            if entry.outcome == "accepted" and not entry.acceptedSuggestions:
                raise HookError(400, "bad_request", f"feedback.{i}.acceptedSuggestions is required for an accepted outcome")
        feedback.add(service_id, [entry.model_dump(mode="json") for entry in body.feedback])
        return {"received": len(body.feedback)}

    @app.get("/explain/{ref}/{goal}", response_class=HTMLResponse, responses={404: {"model": Error}}, tags=["pages"])
    def explanation(ref: str, goal: str, request: Request, lang: Literal["en", "zh"] = "en"):
        """The explanation page of a card's goal for the patient of a recent hook request."""
        visit = visits.get(ref)
        if visit is None:
            raise HookError(404, "not_found", "no recent hook request with this reference: pages are kept "
                                              f"{page.TTL // 60} minutes, for the last {visits.size} requests")
        other = f"{root(request)}/explain/{quote(ref)}/{quote(goal, safe='+.')}?lang={page.other_language(lang)}"
        text, csp = page.render(kb, visit, goal, lang, other)
        return HTMLResponse(text, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store",
                                           "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"})

    return app


def _accepted(header: str) -> str:
    """``zh`` when the Accept-Language header's first language is Chinese, else ``en``."""
    first = header.split(",", 1)[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"
