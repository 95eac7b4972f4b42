"""The labeling page of `qinglang label serve`: a small JSON API over a LabelStore, and two
static pages (`/` to label, `/adjudicate` to settle disagreements) that call it.

Every answer is written to the store the moment it is given, and the page asks the server
(never its own memory) which item comes next, so a reload or a restarted server resumes
where the labeler stopped.

Blindness. Labelers never see each other's answers: the labeling endpoints (`/api/next`,
`/api/answer`, `/api/undo`, `/api/progress`) only ever return the caller's own answers.
Other labelers' answers leave the server only through `/api/disagreements`, which is for
the adjudicator. Who may adjudicate (`/api/disagreements`, `/api/adjudicate`):

- started with `--adjudicator NAME`: only NAME (the request's `adjudicator` must be it);
- started with `--labeler` and no `--adjudicator`: nobody; the server is one labeler's;
- started with neither (an open team server): anyone who gives a name.

Names are not passwords: this keeps a labeler from seeing others' answers by accident, not
a determined one from reading the database. Serve on localhost or behind your own auth.

Errors are JSON `{"error": message}`: 400 bad request (a store error, unreadable JSON),
403 a name this server does not serve, 404 unknown item or item outside the served batch,
409 nothing of this batch to undo, 415 a body not sent as application/json (which also
keeps other sites' plain form posts out), 422 a body or query that does not fit the schema
or the taxonomy (an unknown category, or one that does not apply to the item's kind),
503 the database is busy."""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from starlette.exceptions import HTTPException

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import Taxonomy
from qinglang.labeling.store import Answer, LabelStore, LabelStoreError, labeler_name

log = logging.getLogger("qinglang.labeling.web")

STATIC = Path(__file__).with_name("static")
SHORTCUTS = tuple("1234567890-=")  # the keys that toggle the categories, in taxonomy order
MAX_LABELS = 12
NO_STORE = {"Cache-Control": "no-store"}


def encodable(value: str) -> str:
    """JSON may carry lone surrogates (\\ud800) that SQLite cannot store: refuse them as bad input."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("the text is not valid Unicode (it holds a lone surrogate)") from exc
    return value


def one_line(value: str) -> str:
    """A name is one line of printable characters (it is shown on pages and in exports)."""
    if any(not ch.isprintable() for ch in value):
        raise ValueError("a name must be one line of printable characters")
    return encodable(value)


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(one_line)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(encodable)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(encodable)]


@dataclass(frozen=True)
class LabelServerSettings:
    """What `label serve` serves: the database (it must exist), its taxonomy, the batch to
    label (None: every item in the database), and who may label and adjudicate."""

    db: Path | str
    taxonomy: Taxonomy
    batch: str | None = None
    labeler: str | None = None
    adjudicator: str | None = None


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: ItemId
    labeler: Name
    labels: list[Key] = Field(default_factory=list, max_length=MAX_LABELS)
    skipped: bool = False


class UndoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labeler: Name


class AdjudicateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: ItemId
    labels: list[Key] = Field(default_factory=list, max_length=MAX_LABELS)
    adjudicator: Name


def refuse(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def first_sentence(text: str) -> str:
    """The one-line definition shown on a button: `text` up to its first full stop."""
    return re.split(r"(?<=[.!?])\s+|(?<=[。！？])", text.strip(), maxsplit=1)[0]


class Labeling:
    """The store and the server's rules (who, which batch, which categories), shared by the routes."""

    def __init__(self, settings: LabelServerSettings) -> None:
        self.settings = settings
        self.store = LabelStore(settings.db, settings.taxonomy, create=False)
        self.taxonomy = settings.taxonomy
        self.batch = settings.batch
        self.labeler = labeler_name(settings.labeler) if settings.labeler is not None else None
        self.adjudicator = labeler_name(settings.adjudicator) if settings.adjudicator is not None else None
        if self.batch and self.store.items(self.batch).empty:
            raise LabelStoreError(f"the database has no batch named {self.batch!r}", file=str(settings.db))

    @property
    def adjudication(self) -> str:
        """'named' (only the configured adjudicator), 'off' (a one-labeler server) or 'open'."""
        if self.adjudicator is not None:
            return "named"
        return "off" if self.labeler is not None else "open"

    def labeler_for(self, name: str) -> str:
        """`name` if this server labels for it (403 otherwise; 400 for a name the store refuses)."""
        if self.labeler is not None and name != self.labeler:
            raise refuse(403, f"this server is for labeler {self.labeler!r} only, not {name!r}")
        return labeler_name(name)

    def adjudicator_for(self, name: str) -> str:
        if self.adjudication == "off":
            raise refuse(
                403,
                f"adjudication is off: this server is for labeler {self.labeler!r} only; "
                "start one with --adjudicator NAME to settle disagreements",
            )
        if self.adjudicator is not None and name != self.adjudicator:
            raise refuse(403, f"only the adjudicator named when this server was started may adjudicate, not {name!r}")
        return labeler_name(name)

    def item(self, item_id: str) -> dict:
        found = self.store.item(item_id)
        if found is None:
            raise refuse(404, f"unknown item {item_id!r}")
        if self.batch and found["batch"] != self.batch:
            raise refuse(404, f"item {item_id!r} is not in batch {self.batch!r}, which this server labels")
        return found

    def checked_labels(self, labels: list[str], kind: str) -> tuple[str, ...]:
        unknown = [k for k in labels if k not in self.taxonomy]
        if unknown:
            raise refuse(422, f"unknown categories {unknown}; the taxonomy has {', '.join(self.taxonomy.keys)}")
        wrong_kind = [k for k in labels if not self.taxonomy[k].applies_to(kind)]
        if wrong_kind:
            raise refuse(422, f"categories {wrong_kind} do not apply to a {kind}")
        return tuple(k for k in self.taxonomy.keys if k in labels)

    def view(self, labeler: str, item: dict | None = None, labels: tuple[str, ...] = ()) -> dict:
        """What the labeling page shows: an item (by default the labeler's next) and progress."""
        if item is None:
            item = self.store.next_item(labeler, self.batch)
        shown = None
        if item is not None:
            applies = [c.key for c in self.taxonomy.categories if c.applies_to(item["kind"])]
            shown = {k: item[k] for k in ("item_id", "text", "kind")} | {"labels": list(labels), "applies": applies}
        return {"labeler": labeler, "batch": self.batch, "item": shown, "progress": self.progress(labeler)}

    def progress(self, labeler: str) -> dict[str, int]:
        return self.store.progress(labeler, self.batch)


def labeling(request: Request) -> Labeling:
    return request.app.state.labeling


Ctx = Annotated[Labeling, Depends(labeling)]
NameQuery = Annotated[str, Query(min_length=1, max_length=64), AfterValidator(one_line)]
api = APIRouter(prefix="/api")


@api.get("/config")
def config(ctx: Ctx) -> dict:
    """What the page needs before it starts: a fixed labeler, the batch, adjudication mode."""
    return {
        "labeler": ctx.labeler,
        "batch": ctx.batch,
        "adjudication": ctx.adjudication,
        "taxonomy_version": ctx.taxonomy.version,
    }


@api.get("/taxonomy")
def taxonomy(ctx: Ctx) -> dict:
    cats = [
        {
            "key": c.key,
            "name_zh": c.name_zh,
            "group": c.group,
            "definition": first_sentence(c.definition),
            "not": c.not_,
            "kinds": list(c.kinds),
            "shortcut": SHORTCUTS[i] if i < len(SHORTCUTS) else None,
        }
        for i, c in enumerate(ctx.taxonomy.categories)
    ]
    groups = [{"key": k, "name_zh": v} for k, v in ctx.taxonomy.groups.items()]
    return {"version": ctx.taxonomy.version, "groups": groups, "categories": cats}


@api.get("/next")
def next_item(ctx: Ctx, labeler: NameQuery) -> dict:
    return ctx.view(ctx.labeler_for(labeler.strip()))


@api.get("/progress")
def progress(ctx: Ctx, labeler: NameQuery) -> dict:
    return ctx.progress(ctx.labeler_for(labeler.strip()))


@api.post("/answer")
def answer(ctx: Ctx, body: AnswerRequest) -> dict:
    """Record the answer at once; returns the labeler's next item."""
    labeler = ctx.labeler_for(body.labeler)
    item = ctx.item(body.item_id)
    if body.skipped and body.labels:
        raise refuse(422, "a skipped item has no labels: send labels [] with skipped true")
    labels = ctx.checked_labels(body.labels, item["kind"])
    ctx.store.answer(Answer(item["item_id"], labeler, labels, body.skipped))
    return ctx.view(labeler)


@api.post("/undo")
def undo(ctx: Ctx, body: UndoRequest) -> dict:
    """Withdraw the labeler's last answer; returns that item, back on screen with its labels."""
    labeler = ctx.labeler_for(body.labeler)
    standing = ctx.store.current_answers(labeler)
    if standing.empty:
        return {**ctx.view(labeler), "undone": None}
    last = standing.sort_values("at", kind="stable").iloc[-1]  # the answer store.undo withdraws
    item = ctx.store.item(last["item_id"])
    if ctx.batch and item["batch"] != ctx.batch:
        raise refuse(409, f"your last answer is to an item of batch {item['batch']!r}, not of {ctx.batch!r}")
    undone = ctx.store.undo(labeler)
    if undone != last["item_id"]:  # another tab undid meanwhile: show what is next
        return {**ctx.view(labeler), "undone": undone}
    labels = () if last["skipped"] else tuple(last["labels"])
    return {**ctx.view(labeler, item, labels), "undone": undone, "was_skipped": bool(last["skipped"])}


@api.get("/disagreements")
def disagreements(ctx: Ctx, adjudicator: NameQuery) -> dict:
    """Items whose labelers' standing (not skipped) answers differ, with each one's labels."""
    ctx.adjudicator_for(adjudicator.strip())
    answers = ctx.store.current_answers()
    answers = answers[~answers["skipped"]]
    by_item = {item_id: group for item_id, group in answers.groupby("item_id", sort=False)}
    settled = {row.item_id: row for row in ctx.store.adjudications().itertuples()}
    out = []
    for item in ctx.store.items(ctx.batch).itertuples():
        group = by_item.get(item.item_id)
        if group is None or group["labels"].nunique() < 2:
            continue
        adjudication = settled.get(item.item_id)
        out.append(
            {
                "item_id": item.item_id,
                "text": item.text,
                "kind": item.kind,
                "answers": [{"labeler": a.labeler, "labels": list(a.labels)} for a in group.itertuples()],
                "adjudication": None
                if adjudication is None
                else {"labels": list(adjudication.labels), "adjudicator": adjudication.adjudicator},
            }
        )
    return {"batch": ctx.batch, "items": out}


@api.post("/adjudicate")
def adjudicate(ctx: Ctx, body: AdjudicateRequest) -> dict:
    adjudicator = ctx.adjudicator_for(body.adjudicator)
    item = ctx.item(body.item_id)
    labels = ctx.checked_labels(body.labels, item["kind"])
    ctx.store.adjudicate(item["item_id"], labels, adjudicator)
    return {"item_id": item["item_id"], "labels": list(labels), "adjudicator": adjudicator}


pages = APIRouter()


@pages.get("/", include_in_schema=False)
def label_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=NO_STORE)


@pages.get("/adjudicate", include_in_schema=False)
def adjudicate_page() -> FileResponse:
    """The same page; its script shows the adjudication view on this path."""
    return FileResponse(STATIC / "index.html", headers=NO_STORE)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def validation_message(exc: RequestValidationError, content_type: str) -> tuple[int, str]:
    """A readable one-line message for a request FastAPI could not parse or validate."""
    problems = exc.errors()
    if any(e.get("loc", ())[:1] == ("body",) for e in problems) and "json" not in content_type:
        return 415, "send the body as JSON, with the header Content-Type: application/json"
    if any(e.get("type") == "json_invalid" for e in problems):
        return 400, "the body is not valid JSON"
    parts = []
    for e in problems[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    return 422, "; ".join(parts)


def add_error_handlers(app: FastAPI) -> None:
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(*validation_message(exc, request.headers.get("content-type", "")))

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    async def store_error(request: Request, exc: DataError) -> JSONResponse:
        return error(400, str(exc))

    async def busy(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        log.warning("label database busy on %s: %s", request.url.path, exc)
        return error(503, f"the label database is busy or unavailable ({exc}); try again")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error(500, "internal error; the server logged it and keeps serving")

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(DataError, store_error)
    app.add_exception_handler(sqlite3.OperationalError, busy)
    app.add_exception_handler(Exception, unexpected)


def create_label_app(settings: LabelServerSettings) -> FastAPI:
    """The labeling app; raises LabelStoreError if the database, batch or a name is unusable."""
    app = FastAPI(title="qinglang labeling", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.state.labeling = Labeling(settings)
    app.include_router(api)
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_error_handlers(app)
    return app
