"""Request and response bodies of the HTTP API; their JSON schemas are the OpenAPI spec."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qinglang.data.taxonomy import KINDS
from qinglang.trending.entries import TrendingEntry

Kind = Literal[KINDS]  # title, post or comment: the one list lives in the taxonomy module


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(max_length=256, description="Caller's identifier, echoed back.")
    text: str = Field(min_length=1, description="Title or post text. Longer than the limit: 422.")
    kind: Kind | None = Field(
        None,
        description="What the text is: title (a trending-list title), post or comment; default: the model's "
        "(/v1/taxonomy default_kind). A category that does not apply to the kind gets a null score.",
    )


class ModerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[Item] = Field(min_length=1, description="Texts to score. More than the limit: 422.")
    profile: str | None = Field(
        None, description="Operating point for the flags (see /v1/taxonomy); default: the model's."
    )


class ModelRef(BaseModel):
    name: str
    version: str = Field(description="Registry version, or run:<run id> for an unregistered model.")


class FlagOut(BaseModel):
    category: str
    name_zh: str
    group: str
    score: float


class ItemResult(BaseModel):
    id: str
    scores: dict[str, float | None] = Field(
        description="Every category's probability; null where the model has no classifier for it, where it does "
        "not apply to the item's kind, or for every category of a text with nothing to judge."
    )
    flagged: list[FlagOut] = Field(description="Categories at or above their threshold, highest score first.")
    groups: list[str] = Field(description="Distinct groups of the flagged categories.")
    kind: str = Field(description="The kind the item was scored as.")
    model_version: str


class ModerateResponse(BaseModel):
    model: ModelRef
    profile: str = Field(description="The operating point the flags were decided at.")
    items: list[ItemResult]


class OperatingPointOut(BaseModel):
    threshold: float | None = Field(
        description="null: never flagged at this operating point (untrained, or its target was unreachable)."
    )
    reached: bool = Field(description="Whether the point's validation target (e.g. precision >= 0.9) was met.")


class CategoryOut(BaseModel):
    key: str
    name_zh: str
    group: str
    definition: str
    trained: bool
    threshold: float | None = Field(description="At the default operating point; null: never flagged.")
    operating_points: dict[str, OperatingPointOut]
    kinds: list[str] = Field(description="The kinds of text the category applies to.")
    operating_points_by_kind: dict[str, dict[str, OperatingPointOut]] = Field(
        description="Per kind, the operating points chosen on that kind's own labeled rows (null threshold: "
        "that kind has too few labeled positives, or the category does not apply to it)."
    )


class TaxonomyResponse(BaseModel):
    model: ModelRef
    taxonomy_version: str
    default_profile: str
    profiles: list[str]
    default_kind: str = Field(description="The kind an item without `kind` is scored as.")
    kinds: list[str]
    groups: dict[str, str]
    categories: list[CategoryOut]


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: ModelRef | None = Field(
        None, description="The served model; only to a request with the API key when the server has one."
    )


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorDetail


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    entries: list[TrendingEntry] = Field(min_length=1, description="The list. More than the limit: 422.")


class ReasonOut(BaseModel):
    rule: str = Field(description="Name of the policy rule or cap.")
    action: str
    category: str
    score: float


class RerankedEntry(BaseModel):
    id: str
    title: str
    rank: int
    heat: float | None
    position: int | None = Field(
        description="Place in the new list (1 = top); null: taken off the list (removed, or held for review)."
    )
    action: str = Field(description="keep, demote, review or remove.")
    reasons: list[ReasonOut] = Field(description="Every rule or cap that matched, the deciding one first.")


class PolicyRef(BaseModel):
    name: str
    sha256: str = Field(description="Digest of the policy file the server loaded.")


class RerankResponse(BaseModel):
    model: ModelRef
    policy: PolicyRef
    entries: list[RerankedEntry] = Field(description="The new list in order, then the entries taken off it.")
    actions: dict[str, int] = Field(description="How many entries got each action.")
