"""One entry of a trending list as callers send it (id, title, rank, optional heat): the
single schema behind both `qinglang rerank` files and `POST /v1/trending/rerank`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _integral_float_to_int(value: object) -> object:
    """JSON Schema counts 3.0 as an integer; strict pydantic would not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral_float_to_int)]

# "not blank", spelled with explicit characters: what `\s` covers differs between the
# server's regex engine and JSON Schema tools (U+0085 is whitespace to one, not the other),
# and the OpenAPI schema must promise exactly what the server enforces.
NOT_BLANK = "[^ \t\n\r\f\v\u00a0\u3000]"


class TrendingEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(min_length=1, max_length=256, description="Caller's identifier, unique in the list, echoed back.")
    title: str = Field(
        min_length=1,
        pattern=NOT_BLANK,
        description="The trending title, not blank. Longer than the limit: 422 (text_too_long).",
    )
    rank: JsonInt = Field(ge=1, description="Position on the list as it stands (1 = top); ties are broken by id.")
    heat: float | None = Field(None, allow_inf_nan=False, description="Optional heat value, echoed back.")
