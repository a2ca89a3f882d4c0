"""`oncologic serve`, the CDS Hooks 2.0 service, as a real process on a loopback port: discovery,
both hooks, feedback, bad requests and bad tokens, cards checked against the CDS Hooks card
schema, and schemathesis against the served OpenAPI document."""
from __future__ import annotations

import json
import sys
import time
import uuid

import httpx
import jsonschema
import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from oncologic.cli import main
from oncologic.service.cards import summary
from serving import (ORDER_SELECT, PATIENT_VIEW, SCHEMA, Server, dev, medication_request, order_select,  # noqa: F401 (dev: a fixture)
                     patient_view, prefetch_of, record)
from support import ROOT


# ---- the command line ---------------------------------------------------------------------

def test_serve_refuses_to_start_without_a_key_or_insecure_dev():
    out = CliRunner().invoke(main, ["serve"])
    assert out.exit_code == 2
    assert "give the clients' keys with --jwks FILE_OR_URL or --key FILE, or --insecure-dev" in out.output


def test_serve_without_the_server_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` raises ImportError
    out = CliRunner().invoke(main, ["serve", "--insecure-dev"])
    assert out.exit_code == 2
    assert "oncologic serve needs the server extra (fastapi is missing): pip install oncologic[server]" in out.output


@pytest.mark.parametrize("args, message", [
    (["--key", "nowhere.pem"], "cannot read the key nowhere.pem"),
    (["--jwks", "README.md"], "README.md: not a JSON JWK Set"),
    (["--jwks", "x.json", "--key", "y.pem"], "give --jwks or --key, not both"),
    (["--insecure-dev", "--key", "y.pem"], "it contradicts --jwks/--key"),
    (["--insecure-dev", "--base-url", "ftp://x"], "expected an absolute http(s) URL"),
])
def test_serve_bad_options_exit_2(args, message):
    out = CliRunner().invoke(main, ["serve", *args])
    assert out.exit_code == 2, out.output
    assert message in out.output


def test_a_port_in_use_is_exit_2_naming_it():
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        out = CliRunner().invoke(main, ["serve", "--insecure-dev", "--port", str(port)])
    assert out.exit_code == 2
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in out.output


def test_summaries_are_cut_cleanly_under_140_characters():
    english = "Possibly indicated, not certain: bronchoscopic intervention; missing " + ", ".join(["central_airway_stenosis"] * 8)
    cut = summary(english)
    assert len(cut) <= 139 and cut.endswith("…") and cut[:-1] == english[: len(cut) - 1].rstrip(" ,")
    chinese = "可能适用，尚不确定：局部治疗 + 靶免联合治疗；缺少" + "、".join(["适合根治性治疗", "Child-Pugh评分", "剩余肝体积"] * 10)
    cut = summary(chinese)
    assert len(cut) == 139 and cut.endswith("…") and chinese.startswith(cut[:-1].rstrip("、"))
    assert summary("a\nb  c") == "a b c"


# ---- the running service (--insecure-dev) -------------------------------------------------

def test_discovery_lists_both_services_with_the_readers_prefetch(dev):
    from oncologic.records.fhir import prefetch_templates
    from support import shipped_kb
    got = dev.get("/cds-services")
    assert got.status_code == 200
    services = got.json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [(PATIENT_VIEW, "patient-view"), (ORDER_SELECT, "order-select")]
    assert all(s["prefetch"] == prefetch_templates(shipped_kb().compiled.checked) for s in services)
    assert services[0]["prefetch"]["patient"] == "Patient/{{context.patientId}}"


def _cards(response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    jsonschema.validate(body, SCHEMA)
    return body["cards"]


def test_patient_view_cards_in_english_and_chinese(dev):
    patient = record("sclc_second_line.json")
    cards = _cards(dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(patient)))
    first = cards[0]
    assert first["summary"] == "Recommended: topotecan (strong · evidence I · consensus 92%)"
    assert first["indicator"] == "info"
    assert first["detail"].startswith("**Strength:** strong · **Evidence:** I · **Consensus:** 92%\n\n"
                                      "**Source:** Chinese expert consensus on the diagnosis and treatment of refractory lung cancer, Table 3")
    assert "- rule `sclc.second_line.chemo.topotecan` (facts/lung/sclc\\.rules:17) concludes topotecan\n" \
           "  - rule `refractory_sclc_second_line`" in first["detail"]
    assert first["source"]["label"].startswith("Chinese expert consensus on the diagnosis and treatment of refractory lung cancer — Table 3")
    assert first["source"]["topic"] == {"system": "urn:oncologic:setting", "code": "refractory_sclc_second_line",
                                        "display": "refractory SCLC, second line"}
    link = first["links"][0]
    assert link["type"] == "absolute" and link["url"].startswith(str(dev.base_url).rstrip("/") + "/explain/")
    assert link["url"].endswith("/topotecan?lang=en")
    # the hedged possibility: info, "not certain", naming the data that would decide it
    possible = [c for c in cards if c["summary"].startswith("Possibly indicated")]
    assert [c["summary"] for c in possible] == ["Possibly indicated, not certain: bronchoscopic intervention; "
                                                "missing central_airway_stenosis"]
    assert possible[0]["indicator"] == "info"
    assert possible[0]["detail"].startswith("**Not certain.** This holds for some values of the missing data, not for all. "
                                            "Record central\\_airway\\_stenosis to decide it")
    assert len({c["uuid"] for c in cards}) == len(cards)
    chinese = _cards(dev.post(f"/cds-services/{PATIENT_VIEW}?lang=zh", json=patient_view(patient)))
    assert chinese[0]["summary"] == "推荐：拓扑替康（强推荐 · 证据级别 Ⅰ · 共识度 92%）"
    assert chinese[0]["detail"].startswith("**推荐强度：**强推荐 · **证据级别：**Ⅰ · **专家共识：**92%")
    assert [c["summary"] for c in chinese if c["summary"].startswith("可能")] == ["可能适用，尚不确定：经支气管镜介入治疗；缺少恶性中心气道狭窄"]
    by_header = _cards(dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(patient),
                                headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}))
    assert by_header[0]["summary"] == chinese[0]["summary"]


def test_contraindicated_is_critical_and_not_recommended_a_warning(dev):
    cards = _cards(dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(record("antiangio_first_line_squamous.json"))))
    assert [c["indicator"] for c in cards] == ["critical"] * 3
    assert cards[0]["summary"].startswith("Contraindicated: bevacizumab + carboplatin + paclitaxel (")
    assert "**Reason:**" in cards[0]["detail"] and "removed by contraindication `" in cards[0]["detail"]
    cards = _cards(dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(record("sclc_third_line.yaml"))))
    warnings = [c["summary"] for c in cards if c["indicator"] == "warning"]
    assert warnings == ["Not recommended: dual immune checkpoint inhibitors",
                        "Not recommended: immune checkpoint inhibitor monotherapy"]


def test_order_select_checks_the_ordered_regimen(dev):
    sclc = record("sclc_second_line.json")
    topotecan = medication_request("o1", "57308", "topotecan 4 MG Injection")
    cards = _cards(dev.post(f"/cds-services/{ORDER_SELECT}", json=order_select(sclc, topotecan)))
    assert [(c["indicator"], c["summary"]) for c in cards] == [
        ("info", "Ordered topotecan: recommended (strong · evidence I · consensus 92%)")]
    assert cards[0]["detail"].startswith("**Ordered:** topotecan \\(RxNorm 57308\\)\n\n**Strength:** strong")
    docetaxel = medication_request("o2", "72962", "docetaxel")
    cards = _cards(dev.post(f"/cds-services/{ORDER_SELECT}", json=order_select(sclc, docetaxel)))
    assert [c["summary"] for c in cards] == ["Ordered docetaxel: not covered by the guidelines for this patient"]
    assert "**Recommended regimens with these drugs:** anlotinib \\+ docetaxel" in cards[0]["detail"]
    squamous = record("antiangio_first_line_squamous.json")
    orders = [medication_request("a", "253337", "bevacizumab"), medication_request("b", "40048", "carboplatin"),
              medication_request("c", "56946", "paclitaxel")]
    cards = _cards(dev.post(f"/cds-services/{ORDER_SELECT}?lang=zh", json=order_select(squamous, *orders)))
    assert [c["indicator"] for c in cards] == ["critical"]
    assert cards[0]["summary"].startswith("所开医嘱 贝伐珠单抗 + 卡铂 + 紫杉醇：禁忌（")
    unknown = medication_request("u", "999999999", "aspirin")
    cards = _cards(dev.post(f"/cds-services/{ORDER_SELECT}", json=order_select(sclc, unknown)))
    assert [c["summary"] for c in cards] == ["Ordered drug not in the guidelines' catalogue: RxNorm 999999999 (aspirin)"]


def test_feedback_is_validated_and_kept(dev):
    good = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-11-30T06:00:00Z",
                          "overrideReason": {"userComment": "patient declined"}}]}
    got = dev.post(f"/cds-services/{PATIENT_VIEW}/feedback", json=good)
    assert (got.status_code, got.json()) == (200, {"received": 1})
    accepted = {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-30T06:00:00Z"}]}
    got = dev.post(f"/cds-services/{PATIENT_VIEW}/feedback", json=accepted)
    assert got.status_code == 400
    assert got.json()["message"] == "feedback.0.acceptedSuggestions is required for an accepted outcome"
    got = dev.post(f"/cds-services/{PATIENT_VIEW}/feedback", json={"feedback": [{"card": "c", "outcome": "liked",
                                                                                  "outcomeTimestamp": "2026"}]})
    assert got.status_code == 400 and got.json()["error"] == "bad_request"
    assert got.json()["message"].startswith("feedback.0.outcome: Input should be 'accepted' or 'overridden'")


def _bad(method, path, **kw):
    return method, path, kw


BAD = [
    # (request, status, error, start of the message)
    (("POST", f"/cds-services/{PATIENT_VIEW}", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
     400, "bad_request", "body: not JSON (JSON decode error at character 1)"),
    (("POST", f"/cds-services/{PATIENT_VIEW}", {"json": [1, 2]}), 400, "bad_request", "body: Input should be a valid dictionary"),
    (("POST", "/cds-services/nope", {"json": patient_view({"id": "x", "cancer": "lung"})}), 404, "unknown_service",
     "no service 'nope': the services are oncologic-patient-view, oncologic-order-select"),
    (("POST", f"/cds-services/{PATIENT_VIEW}", {"json": dict(patient_view({"id": "x", "cancer": "lung"}), hook="order-select")}),
     400, "wrong_hook", "service oncologic-patient-view answers the patient-view hook, not 'order-select'"),
    (("POST", f"/cds-services/{PATIENT_VIEW}", {"json": dict(patient_view({"id": "x", "cancer": "lung"}), context={})}),
     400, "bad_context", "context.userId is required for patient-view: a non-empty string"),
    (("POST", f"/cds-services/{PATIENT_VIEW}", {"json": patient_view({"id": "x", "cancer": "lung", "ecog": 7})}),
     422, "bad_patient_data", "hook "),
    (("POST", f"/cds-services/{PATIENT_VIEW}", {"json": patient_view(patient_id="x")}), 412, "prefetch_missing",
     "prefetch lacks patient, "),
    (("POST", f"/cds-services/{PATIENT_VIEW}", {"json": patient_view(patient_id="x", prefetch={"patient": {"id": "x"}})}),
     412, "prefetch_missing", "prefetch lacks "),
    (("POST", f"/cds-services/{ORDER_SELECT}", {"json": dict(patient_view({"id": "x", "cancer": "lung"}), hook="order-select")}),
     400, "bad_context", "context.selections is required for order-select: an array"),
    (("GET", "/cds-services/x/y/z", {}), 404, "not_found", "Not Found"),
    (("DELETE", "/cds-services", {}), 405, "method_not_allowed", "Method Not Allowed"),
    (("GET", "/explain/nothing-here/topotecan", {}), 404, "not_found", "no recent hook request with this reference"),
]


@pytest.mark.parametrize("req, status, error, message", BAD, ids=[f"{b[1]}-{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_are_4xx_with_a_json_error(dev, req, status, error, message):
    method, path, kw = req
    got = dev.request(method, path, **kw)
    assert got.status_code == status, got.text
    assert got.headers["content-type"] == "application/json"
    assert got.json()["error"] == error
    assert got.json()["message"].startswith(message), got.json()["message"]


def test_a_bad_prefetch_resource_is_a_4xx_naming_it(dev):
    from oncologic.records.fhir import prefetch_templates
    from support import shipped_kb
    keys = prefetch_templates(shipped_kb().compiled.checked)
    prefetch = {key: None for key in keys}
    prefetch["patient"] = {"resourceType": "Patient", "id": "x"}
    prefetch["observations"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "Observation", "id": "bad-1", "status": "final", "subject": {"reference": "Patient/x"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "89247-1"}]}, "valueInteger": "one"}}]}
    got = dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(patient_id="x", prefetch=prefetch))
    assert got.status_code in (400, 422), got.text
    assert "Observation/bad-1" in got.json()["message"]
    prefetch["observations"] = [1]
    got = dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(patient_id="x", prefetch=prefetch))
    assert got.status_code == 400 and got.json()["message"].startswith("prefetch.observations: Input should be a valid dictionary")
    prefetch["observations"] = {"resourceType": "OperationOutcome"}
    got = dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(patient_id="x", prefetch=prefetch))
    assert (got.status_code, got.json()["missing"]) == (412, ["observations"])


def test_the_openapi_document_is_served(dev):
    doc = dev.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/cds-services", "/cds-services/{service_id}", "/cds-services/{service_id}/feedback",
            "/explain/{ref}/{goal}"} <= set(doc["paths"])
    assert dev.get("/docs").status_code == 404  # the interactive docs would load third-party scripts


def test_schemathesis_finds_no_server_error(dev):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    base = str(dev.base_url).rstrip("/")
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case):
            response = case.call(base_url=base)
            kind = response.headers.get("content-type") or [""]
            if response.status_code >= 500 or not kind[0].startswith(("application/json", "text/html")):
                failures.append((case.method, case.formatted_path, response.status_code, response.text[:200]))
        run()
    assert failures == []


# ---- security: JWT bearer tokens ----------------------------------------------------------

@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP384R1())
    jwks = {"keys": []}
    for kid, key, algorithm in (("rsa-1", rsa_key, jwt.algorithms.RSAAlgorithm), ("ec-1", ec_key, jwt.algorithms.ECAlgorithm)):
        jwk = json.loads(algorithm.to_jwk(key.public_key()))
        jwks["keys"].append(dict(jwk, kid=kid, use="sig", alg="RS384" if kid == "rsa-1" else "ES384"))
    folder = tmp_path_factory.mktemp("keys")
    (folder / "jwks.json").write_text(json.dumps(jwks))
    (folder / "ec.pem").write_bytes(ec_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"rsa": rsa_key, "ec": ec_key, "jwks": folder / "jwks.json", "pem": folder / "ec.pem"}


@pytest.fixture(scope="module")
def secure(keys):
    """The service with its JWK Set at a URL (a loopback HTTP server of the test's own)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(keys["jwks"].parent))
    handler.log_message = lambda *a: None
    jwks_server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=jwks_server.serve_forever, daemon=True).start()
    jwks_url = f"http://127.0.0.1:{jwks_server.server_address[1]}/jwks.json"
    server = Server("--jwks", jwks_url, "--issuer", "https://ehr.example.org")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client
    server.stop()
    jwks_server.shutdown()


def token(keys, aud, alg="RS384", kid=None, **claims):
    now = int(time.time())
    payload = {"iss": "https://ehr.example.org", "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    key = keys["rsa"] if alg.startswith("RS") else keys["ec"]
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid or ("rsa-1" if alg.startswith("RS") else "ec-1")})


def _unsigned(payload: dict, alg: str) -> str:
    import base64
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': alg, 'typ': 'JWT', 'kid': 'rsa-1'})}.{part(payload)}."


def test_tokens_are_checked(secure, keys):
    url = str(secure.base_url).rstrip("/")
    aud = f"{url}/cds-services/{PATIENT_VIEW}"
    body = patient_view(record("sclc_second_line.json"))
    now = int(time.time())

    def post(bearer):
        headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
        return secure.post(f"/cds-services/{PATIENT_VIEW}", json=body, headers=headers)

    hs256 = jwt.encode({"iss": "https://ehr.example.org", "aud": aud, "iat": now, "exp": now + 60, "jti": "h"},
                       "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256", headers={"kid": "rsa-1"})
    cases = [
        (None, "missing Authorization header"),
        (hs256, "token algorithm 'HS256' refused: only RS384 or ES384"),
        (_unsigned({"iss": "https://ehr.example.org", "aud": aud, "iat": now, "exp": now + 60, "jti": "n"}, "none"),
         "token algorithm 'none' refused"),
        (token(keys, aud, exp=now - 120, iat=now - 400), "token expired"),
        (token(keys, f"{url}/cds-services/elsewhere"), f"token audience (aud) is not this endpoint: expected {aud}"),
        (token(keys, aud, iss="https://other.example.org"), "token issuer (iss) is not trusted"),
        (token(keys, aud, jti=None), "token lacks the 'jti' claim"),
        (token(keys, aud, alg="ES384", kid="rsa-1"), "invalid token: its key is not an EC P-384 key, as ES384 needs"),
        (token(keys, aud, kid="unknown"), "no key with kid 'unknown' in the JWK Set"),
        (token(keys, aud, exp=now + 7200), "token valid too long"),
        ("not.a.token", "malformed token"),
    ]
    for bearer, message in cases:
        got = post(bearer)
        assert got.status_code == 401, (message, got.text)
        assert got.headers["www-authenticate"] == "Bearer"
        assert got.json()["error"] == "unauthorized"
        assert got.json()["message"].startswith(message), got.json()["message"]
    for alg in ("RS384", "ES384"):
        good = token(keys, [aud, "https://another"], alg=alg)
        assert post(good).status_code == 200
        again = post(good)
        assert (again.status_code, again.json()["message"]) == (401, "token replayed: its jti was used before")
    assert secure.get("/cds-services", headers={"Authorization": "Bearer " + token(keys, f"{url}/cds-services")}).status_code == 200
    assert secure.get("/cds-services").status_code == 401
    # a token is checked before the body is read: no token and a bad body is still 401
    assert secure.post(f"/cds-services/{PATIENT_VIEW}", content=b"{").status_code == 401
    # ... also when it says it is JSON (a tester got 400 'not JSON' there: the body was parsed first)
    got = secure.post(f"/cds-services/{PATIENT_VIEW}", content=b"{not json", headers={"Content-Type": "application/json"})
    assert got.status_code == 401 and got.json()["message"].startswith("missing Authorization header")


def test_a_jwks_file_verifies_rs384_tokens(keys):
    from oncologic.service.auth import AuthError, Verifier
    verifier = Verifier(jwks=str(keys["jwks"]), issuers=("https://ehr.example.org",))
    assert verifier.verify("Bearer " + token(keys, "http://svc/x"), "http://svc/x")["aud"] == "http://svc/x"
    with pytest.raises(AuthError, match="token lacks the 'exp' claim"):
        verifier.verify("Bearer " + token(keys, "http://svc/x", exp=None), "http://svc/x")


def test_a_pem_key_verifies_es384_tokens(keys):
    from oncologic.service.auth import AuthError, Verifier
    verifier = Verifier(key=str(keys["pem"]))
    claims = verifier.verify("Bearer " + token(keys, "http://svc/cds-services", alg="ES384"), "http://svc/cds-services")
    assert claims["iss"] == "https://ehr.example.org"
    with pytest.raises(AuthError, match="invalid token: its key is not an RSA key, as RS384 needs"):
        verifier.verify("Bearer " + token(keys, "http://svc/cds-services", alg="RS384"), "http://svc/cds-services")


def test_explain_many_gives_what_explain_gives_goal_by_goal():
    from support import shipped_kb
    kb = shipped_kb()
    for name in ("sclc_second_line.json", "antiangio_first_line_squamous.json", "sclc_third_line.yaml"):
        person = kb.patient(record(name))
        res = kb.evaluate(person)
        goals = [r.id for r in res.recommendations] + [p.id for p in res.possible] + \
            [n.rule.id for n in res.not_recommended] + [c.id for c in res.contraindicated]
        assert [ex.to_dict() for ex in kb.explain_many(person, goals)] == [kb.explain(person, g).to_dict() for g in goals]
    assert kb.explain_many(person, []) == []


@pytest.mark.parametrize("name", ["sclc_second_line", "nsclc_egfr_t790m", "hcc_iiia_portal_vein"])
def test_fhir_prefetch_gives_the_cards_of_the_flat_twin(dev, name):
    bundle = json.loads((ROOT / "examples" / "fhir" / f"{name}.json").read_text(encoding="utf-8"))
    templates = dev.get("/cds-services").json()["services"][0]["prefetch"]
    twin = record(f"fhir_{name}.json")
    from_fhir = _cards(dev.post(f"/cds-services/{PATIENT_VIEW}",
                                json=patient_view(prefetch=prefetch_of(bundle, templates), patient_id=twin["id"])))
    flat = _cards(dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(twin)))
    assert [(c["indicator"], c["summary"], c["detail"]) for c in from_fhir] == \
        [(c["indicator"], c["summary"], c["detail"]) for c in flat]
    assert any(c["indicator"] == "info" and c["summary"].startswith("Recommended: ") for c in from_fhir)
    page = dev.get(from_fhir[0]["links"][0]["url"].split(str(dev.base_url).rstrip("/"), 1)[1])
    assert page.status_code == 200 and "Observation/" in page.text  # the values' FHIR provenance


def test_a_prefetch_for_another_patient_is_refused(dev):
    bundle = json.loads((ROOT / "examples" / "fhir" / "sclc_second_line.json").read_text(encoding="utf-8"))
    templates = dev.get("/cds-services").json()["services"][0]["prefetch"]
    got = dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(prefetch=prefetch_of(bundle, templates),
                                                                     patient_id="someone-else"))
    assert got.status_code == 400 and got.json()["error"] == "patient_mismatch"
    assert got.json()["message"] == "the data is of patient 'pt-fhir-sclc', context.patientId is 'someone-else'"
    got = dev.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(record("sclc_second_line.json"), patient_id="other"))
    assert (got.status_code, got.json()["error"]) == (400, "patient_mismatch")


def test_a_body_over_the_limit_is_413_before_it_is_read():
    """`--max-body 1`: a body over 1 MiB is refused with 413 and a JSON error, whether it says
    its length (Content-Length) or arrives in chunks; a body under it is answered as before."""
    server = Server("--insecure-dev", "--max-body", "1")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            big = b'{"hook": "' + b"x" * (1024 * 1024 + 1) + b'"}'
            declared = client.post(f"/cds-services/{PATIENT_VIEW}", content=big, headers={"Content-Type": "application/json"})

            def chunks():
                for _ in range(20):
                    yield b" " * 65536  # 1.25 MiB of JSON whitespace, with no Content-Length
            chunked = client.post(f"/cds-services/{PATIENT_VIEW}", content=chunks(), headers={"Content-Type": "application/json"})
            for got in (declared, chunked):
                assert got.status_code == 413, got.text
                assert got.json() == {"error": "too_large", "message": "the request body is over 1 MiB"}
            small = client.post(f"/cds-services/{PATIENT_VIEW}", json=patient_view(record("sclc_second_line.json")))
            assert small.status_code == 200 and small.json()["cards"]
    finally:
        server.stop()


def test_an_ordered_drug_a_contraindication_avoids_is_critical_whatever_the_regimen(dev):
    """A tester ordered bevacizumab alone, and bevacizumab + carboplatin + docetaxel, for a
    squamous NSCLC patient: both read 'not covered' (info) while `avoid bevacizumab if
    squamous_nsclc` holds. The order is checked against every contraindication avoiding one of
    its drugs (or a class of it)."""
    squamous = record("antiangio_first_line_squamous.json")
    bev = medication_request("a", "253337", "bevacizumab")
    for orders in ([bev], [bev, medication_request("b", "40048", "carboplatin"), medication_request("c", "72962", "docetaxel")]):
        cards = _cards(dev.post(f"/cds-services/{ORDER_SELECT}", json=order_select(squamous, *orders)))
        assert [c["indicator"] for c in cards] == ["critical"], cards
        assert cards[0]["summary"].startswith("Ordered bevacizumab: contraindicated (not suitable for squamous NSCLC")
        assert "antiangiogenic.bevacizumab_squamous" in cards[0]["detail"]
        assert cards[0]["links"][0]["url"].endswith("/antiangiogenic.bevacizumab_squamous?lang=en")
    # the same drug for a patient the contraindication does not concern: no contraindication card
    sclc = record("sclc_second_line.json")
    cards = _cards(dev.post(f"/cds-services/{ORDER_SELECT}", json=order_select(sclc, bev)))
    assert [c["indicator"] for c in cards] == ["info"]


@pytest.mark.parametrize("medication, element", [
    ({"medicationReference": "Medication/1"}, "medicationReference: expected a JSON object"),
    ({"medicationReference": {"reference": 5}}, "medicationReference.reference: expected a JSON string"),
    ({"medicationReference": {"reference": "#m1"}, "contained": 5}, "contained: expected a JSON array"),
    ({"medicationCodeableConcept": {"coding": [{"code": ["57308"]}]}}, "coding.code: expected a JSON string"),
])
def test_a_malformed_drafted_order_is_400_naming_the_element(dev, medication, element):
    order = {"resourceType": "MedicationRequest", "id": "m", "status": "draft", "intent": "proposal",
             "subject": {"reference": "Patient/p"}, **medication}
    got = dev.post(f"/cds-services/{ORDER_SELECT}", json=order_select(record("sclc_second_line.json"), order))
    assert got.status_code == 400, got.text
    assert got.json()["error"] == "bad_context"
    assert got.json()["message"] == f"context.draftOrders entry 0 (MedicationRequest/m).{element}"


def test_the_audience_is_the_configured_url_not_the_host_header(secure, keys):
    """A tester replayed a token issued for another deployment by sending that deployment's Host
    (and X-Forwarded-Proto): it was accepted and the cards linked there. The audience and the links
    are the URL the service listens on (or --base-url), whatever the request's headers say."""
    other = "https://other-cds.example/cds-services/" + PATIENT_VIEW
    body = patient_view(record("sclc_second_line.json"))
    got = secure.post(f"/cds-services/{PATIENT_VIEW}", json=body,
                      headers={"Authorization": f"Bearer {token(keys, other)}", "Host": "other-cds.example",
                               "X-Forwarded-Proto": "https"})
    assert got.status_code == 401 and got.json()["message"].startswith("token audience (aud) is not this endpoint")
    url = str(secure.base_url).rstrip("/")
    got = secure.post(f"/cds-services/{PATIENT_VIEW}", json=body,
                      headers={"Authorization": f"Bearer {token(keys, url + '/cds-services/' + PATIENT_VIEW)}",
                               "Host": "other-cds.example"})
    assert got.status_code == 200
    assert all(link["url"].startswith(url + "/explain/") for card in got.json()["cards"] for link in card["links"])


def test_every_address_without_base_url_is_refused_when_tokens_are_checked(tmp_path):
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = tmp_path / "k.pem"
    pem.write_bytes(key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0", "--key", str(pem)])
    assert result.exit_code == 2
    assert "listens on every address: give --base-url URL" in result.output
