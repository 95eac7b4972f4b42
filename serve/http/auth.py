"""The API key, and which endpoints it guards.

Without a key (QINGLANG_API_KEY unset) nothing is guarded, and the OpenAPI document
declares no security scheme. With a key, every request must carry it as
`Authorization: Bearer <key>`, except:

- `GET /healthz` (liveness): always open, it tells nothing but "the process is alive";
- `GET /readyz` (readiness): open, so that load balancers and probes need no secret, but
  it names the served model (name, version) only to a request with the key; without the
  key the answer is `{"status": "ready"}` (or the 503 when not ready).

Everything else needs the key: `/v1/*`, `/metrics`, the API documentation (`/docs`,
`/redoc`, `/openapi.json`), and unknown paths, which answer 401 rather than 404 so that
routes cannot be probed without the key. `RequestGuard` checks the key before anything
reads the request body, so a request without the right key gets 401 whatever its body
(never 400 for bad JSON, 413 or 415). The routes' own dependency checks it again and is
what declares the Bearer scheme in the OpenAPI document."""

import secrets

from fastapi import Request, Security
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from qinglang.serve.settings import HttpSettings

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
SCHEME = "HTTPBearer"  # the security scheme's name in the OpenAPI document
UNAUTHORIZED = "missing or wrong API key (Authorization: Bearer <key>)"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def needs_key(settings: HttpSettings, path: str) -> bool:
    return settings.api_key is not None and path not in OPEN_PATHS


def authorized(header: str | None, key: str | None) -> bool:
    """Whether an Authorization header value (as ASGI servers decode it, latin-1) carries
    `key`. RFC 7235 section 2.1: the auth-scheme is a case-insensitive token, so "bearer"
    and "BEARER" are Bearer too; whitespace around the value and between scheme and token
    is tolerated. The token is compared in constant time."""
    if key is None:
        return True
    parts = (header or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return False
    return secrets.compare_digest(parts[1].strip().encode("latin-1", "replace"), key.encode())


def key_dependencies(settings: HttpSettings) -> list[DependsParam]:
    """The `dependencies=[...]` of a guarded route: none without a key (and no security
    scheme in the OpenAPI document); with one, a check that declares Bearer auth."""
    if settings.api_key is None:
        return []
    bearer = HTTPBearer(auto_error=False, scheme_name=SCHEME, description="The server's API key.")

    def require_key(request: Request, _: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        if not authorized(request.headers.get("authorization"), settings.api_key):
            raise HTTPException(401, UNAUTHORIZED, headers=CHALLENGE)

    return [Security(require_key)]


def optional_key_openapi(settings: HttpSettings) -> dict | None:
    """`openapi_extra` of a route open to all that tells more to a request with the key (/readyz)."""
    return None if settings.api_key is None else {"security": [{SCHEME: []}, {}]}
