"""The JSON error contract: every failure is `{"error": {"code", "message", "details"}}`
with its status:

- 400 `empty_body`, `invalid_encoding` (not UTF-8), `invalid_json` (not JSON, nested too
  deeply or a number too long for the parser);
- 401 `unauthorized`: missing or wrong API key (checked before the body is read);
- 404 `not_found`, 405 `method_not_allowed`;
- 409 `duplicate_ids` in a list to re-rank;
- 413 `body_too_large`: the body is over the server's byte limit (the one limit the
  request schema cannot state);
- 415 `unsupported_media_type`: not `application/json` in UTF-8;
- 422 `invalid_request` (wrong shape or types), `too_many_items` and `text_too_long` (over
  the limits the request schema states as maxItems and maxLength);
- 503 `not_ready`: the model cannot score, or the server is shutting down.

Unexpected exceptions become a logged 500 `internal_error`; the worker keeps serving."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from qinglang.serve.schemas import ErrorResponse
from qinglang.serve.settings import HttpSettings

log = logging.getLogger("qinglang.http")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    409: "conflict",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    503: "not_ready",
}
INVALID_JSON = "the body is not valid JSON"
EMPTY_BODY = "the request has no body; send the JSON object this route takes (see /docs)"


def error_response(
    status: int, code: str, message: str, details: list[dict] | None = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def internal_error() -> JSONResponse:
    return error_response(500, "internal_error", "internal error; the server logged it and keeps serving")


def error_responses(*statuses: int) -> dict[int, dict]:
    """A route's `responses=` declaration: the error body for each status, in this order."""
    return {status: {"model": ErrorResponse} for status in statuses}


def validation_error(exc: RequestValidationError, settings: HttpSettings) -> JSONResponse:
    """A body FastAPI could not parse or validate: 400 unreadable, else 422 (over the item
    or text limit with its own code)."""
    problems = exc.errors()
    details = [
        {"loc": ".".join(str(p) for p in e.get("loc", ())), "type": e.get("type", ""), "message": e.get("msg", "")}
        for e in problems[:20]
    ]
    types = {e.get("type") for e in problems}
    if "json_invalid" in types:
        return error_response(400, "invalid_json", INVALID_JSON, details)
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in problems):
        return error_response(400, "empty_body", EMPTY_BODY, details)
    # over a size limit (the list, or a text / title) has its own code; any other over-long field (an id) is plain
    too_long = [
        e
        for e in problems
        if e.get("type") == "too_long"
        or (e.get("type") == "string_too_long" and tuple(e.get("loc", ()))[-1:] in (("text",), ("title",)))
    ]
    if too_long:
        if any(e.get("type") == "too_long" for e in too_long):
            return error_response(422, "too_many_items", f"at most {settings.max_items} items per request", details)
        return error_response(
            422, "text_too_long", f"a text may have at most {settings.max_text_chars} characters", details
        )
    return error_response(422, "invalid_request", "the body does not match the request schema (see /docs)", details)


def add_exception_handlers(app: FastAPI, settings: HttpSettings) -> None:
    """Validation errors, HTTP errors (auth, 404, 405) and anything unexpected, as JSON errors."""

    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error(exc, settings)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI's "error parsing the body": json.loads gave up (nesting deeper than the
            # recursion limit, an integer over 4300 digits); to the client that is invalid JSON
            return error_response(400, "invalid_json", INVALID_JSON + ": nested too deeply or a number too long")
        code = STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return internal_error()

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
