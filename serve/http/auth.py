"""The API key: when the server has one (QINGLANG_API_KEY), routes that depend on
`api_key_dependency` take it only as `Authorization: Bearer <key>`."""

import secrets

from fastapi import Depends, Security
from fastapi.params import Depends as DependsParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from qinglang.serve.settings import HttpSettings


def api_key_dependency(settings: HttpSettings) -> DependsParam:
    """The dependency for a route's `dependencies=[...]`; build one per app, for all its routes."""
    bearer = HTTPBearer(auto_error=False, description="Required when the server has QINGLANG_API_KEY set.")

    def require_key(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        if settings.api_key is None:
            return
        if credentials is None or not secrets.compare_digest(
            credentials.credentials.encode(), settings.api_key.encode()
        ):
            raise HTTPException(
                401, "missing or wrong API key (Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"}
            )

    return Depends(require_key)
