"""CDS Hooks 2.0 security: the CDS client's JWT bearer token, verified with PyJWT.

In: the ``Authorization`` header of a request and the URL it was sent to; the keys the service
was started with (a JWK Set from a file or a URL, or one PEM public key) and the issuers it
trusts. Out: the token's claims, or :class:`AuthError` (401 with a JSON error; 503 when the JWK
Set's URL cannot be read).

Accepted: ``alg`` RS384 or ES384 only (``none`` and every HMAC algorithm are refused before any
key is looked at, as the specification requires); the key chosen by ``kid`` from the JWK Set
(a single PEM key needs none) and of the algorithm's type; ``iss``, ``aud``, ``exp``, ``iat`` and
``jti`` all present; ``iss`` one of ``--issuer`` when given; ``aud`` the URL of the endpoint
called (the configured ``--base-url`` joined with the path; `oncologic serve` defaults it to the URL it listens on);
``exp`` in the future and at most :data:`MAX_LIFETIME` seconds away; ``iat`` not in the future;
``jti`` not seen before from that issuer while its token is valid (a replay).
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import jwt
from jwt import PyJWKClient, PyJWKSet

ALGORITHMS = ("RS384", "ES384")
LEEWAY = 30  # seconds of clock skew allowed on exp and iat
MAX_LIFETIME = 3600  # a token valid longer than this is refused (its jti would be kept that long)
REPLAY_MEMORY = 100_000  # jti values remembered at most


class AuthError(Exception):
    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.message = message
        self.status = status


class KeyConfigError(ValueError):
    """The keys given to ``oncologic serve`` cannot be used (a message for exit 2)."""


class Verifier:
    """Checks bearer tokens against a JWK Set (``jwks``: a file or an http(s) URL, read and
    cached) or a PEM public key file (``key``)."""

    def __init__(self, jwks: Optional[str] = None, key: Optional[str] = None, issuers: tuple[str, ...] = ()):
        self.issuers = tuple(issuers)
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._client: Optional[PyJWKClient] = None
        self._set: Optional[PyJWKSet] = None
        self._pem = None
        if jwks and jwks.startswith(("http://", "https://")):
            self._client = PyJWKClient(jwks, cache_jwk_set=True, lifespan=300, timeout=10)
        elif jwks:
            self._set = _read_jwks(jwks)
        elif key:
            self._pem = _read_pem(key)
        else:
            raise KeyConfigError("no key: give --jwks FILE_OR_URL or --key FILE")

    def verify(self, header: Optional[str], audience: str | list[str]) -> dict:
        """The claims of the bearer token in ``header`` (the Authorization header's value),
        whose ``aud`` must be ``audience`` (or one of them); raises :class:`AuthError`."""
        if not header:
            raise AuthError("missing Authorization header: CDS Hooks requires 'Authorization: Bearer <JWT>'")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("the Authorization header must be 'Bearer <JWT>'")
        try:
            head = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise AuthError(f"malformed token: {err}") from None
        alg = head.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"token algorithm {str(alg)[:20]!r} refused: only RS384 or ES384 "
                            "(CDS Hooks forbids unsigned and HMAC-signed tokens)")
        key = self._key(head)
        if not _fits(key, alg):
            raise AuthError(f"invalid token: its key is not {'an RSA' if alg == 'RS384' else 'an EC P-384'} key, as {alg} needs")
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=audience,
                                issuer=list(self.issuers) or None, leeway=LEEWAY,
                                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired (exp is past)") from None
        except jwt.InvalidAudienceError:
            wanted = audience if isinstance(audience, str) else " or ".join(audience)
            raise AuthError(f"token audience (aud) is not this endpoint: expected {wanted}") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token issuer (iss) is not trusted by this service") from None
        except jwt.MissingRequiredClaimError as err:
            raise AuthError(f"token lacks the {err.claim!r} claim (CDS Hooks requires iss, aud, exp, iat, jti)") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token issued in the future (iat)") from None
        except jwt.PyJWTError as err:
            raise AuthError(f"invalid token: {err}") from None
        now = time.time()
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise AuthError("token jti must be a non-empty string")
        if claims["exp"] - now > MAX_LIFETIME:
            raise AuthError(f"token valid too long: exp more than {MAX_LIFETIME} s ahead")
        self._once(str(claims["iss"]), claims["jti"], float(claims["exp"]), now)
        return claims

    def _key(self, head: dict):
        kid = head.get("kid")
        if self._pem is not None:
            return self._pem
        if self._client is not None:
            if not isinstance(kid, str):
                raise AuthError("token header lacks 'kid': it names the key of the JWK Set")
            try:
                return self._client.get_signing_key(kid).key
            except jwt.PyJWKClientConnectionError as err:
                raise AuthError(f"the JWK Set cannot be read: {err}", 503) from None
            except jwt.PyJWKClientError:
                raise AuthError(f"no key with kid {kid[:80]!r} in the JWK Set") from None
        if not isinstance(kid, str):
            raise AuthError("token header lacks 'kid': it names the key of the JWK Set")
        for found in self._set.keys:
            if found.key_id == kid:
                return found.key
        raise AuthError(f"no key with kid {kid[:80]!r} in the JWK Set")

    def _once(self, issuer: str, jti: str, exp: float, now: float) -> None:
        """Refuse a (iss, jti) seen before whose token has not expired; remember this one."""
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < now - LEEWAY or len(self._seen) >= REPLAY_MEMORY):
                self._seen.popitem(last=False)
            if (issuer, jti) in self._seen:
                raise AuthError("token replayed: its jti was used before")
            self._seen[(issuer, jti)] = exp


def _fits(key, alg: str) -> bool:
    """The key is of the algorithm's type: RSA for RS384, EC on P-384 for ES384."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if alg == "RS384":
        return isinstance(key, rsa.RSAPublicKey)
    return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP384R1)


def _read_jwks(path: str) -> PyJWKSet:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise KeyConfigError(f"cannot read the JWK Set {path}: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise KeyConfigError(f"{path}: not a JSON JWK Set: {err}") from None
    try:
        found = PyJWKSet.from_dict(data) if isinstance(data, dict) else None
    except jwt.PyJWTError as err:
        raise KeyConfigError(f"{path}: not a usable JWK Set: {err}") from None
    if found is None or not found.keys:
        raise KeyConfigError(f"{path}: a JWK Set is an object with a non-empty 'keys' array")
    return found


def _read_pem(path: str):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except OSError as err:
        raise KeyConfigError(f"cannot read the key {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise KeyConfigError(f"{path}: not a PEM public key: {err}") from None
    if _fits(key, "RS384") or _fits(key, "ES384"):
        return key
    raise KeyConfigError(f"{path}: the key must be RSA (RS384) or EC P-384 (ES384)")
