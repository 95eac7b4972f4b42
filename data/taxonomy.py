"""The category list as data: read once from taxonomy.yaml, shared by training, evaluation
and serving so no category list is ever typed twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from qinglang.data.errors import DataError

DEFAULT_TAXONOMY = "taxonomy.yaml"

# What a text is: a trending-list title, a post, or a comment. Every corpus reader declares
# the kind of its rows; callers say which kind they score; a category applies to the kinds
# its taxonomy entry lists (all of them when it lists none). Defined here, once.
KINDS = ("title", "post", "comment")
TITLE, POST, COMMENT = KINDS
DEFAULT_KIND = "title"


@dataclass(frozen=True)
class Category:
    key: str
    name_zh: str
    group: str
    definition: str
    not_: str = ""
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lexicons: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    kinds: tuple[str, ...] = KINDS

    def __setstate__(self, state: dict) -> None:
        # Bundles pickled before a field existed get its default instead of an AttributeError.
        self.__dict__.update({"lexicons": {}, "kinds": KINDS, **state})

    def applies_to(self, kind: str) -> bool:
        return kind in self.kinds


@dataclass(frozen=True)
class Taxonomy:
    version: str
    groups: Mapping[str, str]
    categories: tuple[Category, ...]

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.categories]

    def __getitem__(self, key: str) -> Category:
        for c in self.categories:
            if c.key == key:
                return c
        raise KeyError(f"unknown category {key!r}; the taxonomy has {', '.join(self.keys)}")

    def __contains__(self, key: object) -> bool:
        return any(c.key == key for c in self.categories)

    def speaks_for(self, source: str) -> dict[str, frozenset[str]]:
        """Categories a named source annotates, each with the native labels that mean positive."""
        return {c.key: frozenset(c.sources[source]) for c in self.categories if source in c.sources}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "groups": dict(self.groups),
            "categories": [
                {
                    "key": c.key,
                    "name_zh": c.name_zh,
                    "group": c.group,
                    "definition": c.definition,
                    "not": c.not_,
                    "sources": {s: list(v) for s, v in c.sources.items()},
                    "lexicons": {s: list(v) for s, v in c.lexicons.items()},
                    "kinds": list(c.kinds),
                }
                for c in self.categories
            ],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], origin: str = "taxonomy") -> Taxonomy:
        # Imported here: the loaders package imports this module, so a top-level import is circular.
        from qinglang.data.loaders.lexicons import LEXICONS

        if not isinstance(raw, Mapping) or "categories" not in raw:
            raise DataError("expected a mapping with a 'categories' list", file=origin)
        groups = dict(raw.get("groups") or {"low-value": "低价值", "harmful": "有害"})
        seen: set[str] = set()
        cats = []
        for i, entry in enumerate(raw["categories"] or [], start=1):
            where = f"category #{i}"
            if not isinstance(entry, Mapping):
                raise DataError(f"{where}: expected a mapping", file=origin)
            for req in ("key", "name_zh", "group", "definition"):
                if not entry.get(req):
                    raise DataError(f"{where}: missing field {req!r}", file=origin)
            key = str(entry["key"])
            if not key.isidentifier() or key != key.lower():
                raise DataError(f"{where}: key {key!r} must be a lower-case identifier", file=origin)
            if key in seen:
                raise DataError(f"{where}: duplicate key {key!r}", file=origin)
            if entry["group"] not in groups:
                raise DataError(
                    f"{where} ({key}): group {entry['group']!r} is not one of {sorted(groups)}",
                    file=origin,
                )
            sources = _name_lists(entry, "sources", f"{where} ({key})", origin)
            lexicons = _name_lists(entry, "lexicons", f"{where} ({key})", origin)
            unknown = sorted(set(lexicons) - set(LEXICONS))
            if unknown:
                raise DataError(
                    f"{where} ({key}): unknown lexicon(s) {unknown}; known lexicons: {', '.join(sorted(LEXICONS))}",
                    file=origin,
                )
            kinds = _kinds(entry, f"{where} ({key})", origin)
            seen.add(key)
            cats.append(
                Category(
                    key=key,
                    name_zh=str(entry["name_zh"]),
                    group=str(entry["group"]),
                    definition=" ".join(str(entry["definition"]).split()),
                    not_=" ".join(str(entry.get("not", "")).split()),
                    sources=sources,
                    lexicons=lexicons,
                    kinds=kinds,
                )
            )
        if not cats:
            raise DataError("the taxonomy has no categories", file=origin)
        return cls(version=str(raw.get("version", "")), groups=groups, categories=tuple(cats))


def _kinds(entry: Mapping[str, Any], where: str, origin: str) -> tuple[str, ...]:
    """The optional `kinds` list of a category (default: every kind), in KINDS order."""
    raw = entry.get("kinds")
    if raw is None:
        return KINDS
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{where}: kinds must be a non-empty list of {', '.join(KINDS)}", file=origin)
    unknown = sorted({str(k) for k in raw} - set(KINDS))
    if unknown:
        raise DataError(f"{where}: unknown kind(s) {unknown}; kinds are {', '.join(KINDS)}", file=origin)
    return tuple(k for k in KINDS if k in raw)


def check_kind(kind: object) -> str:
    """`kind` if it is one of KINDS, else a ValueError naming the allowed ones."""
    if kind not in KINDS:
        raise ValueError(f"unknown text kind {kind!r}; kinds are {', '.join(KINDS)}")
    return kind


def _name_lists(entry: Mapping[str, Any], field_: str, where: str, origin: str) -> dict[str, tuple[str, ...]]:
    """An optional mapping of name -> list of str (`sources`, `lexicons`)."""
    raw = entry.get(field_) or {}
    if not isinstance(raw, Mapping):
        raise DataError(f"{where}: {field_} must be a mapping of name -> list", file=origin)
    out = {}
    for name, values in raw.items():
        if not isinstance(values, list):
            raise DataError(f"{where}: {field_}.{name} must be a list", file=origin)
        out[str(name)] = tuple(str(v) for v in values)
    return out


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read a taxonomy file; with no path, the one shipped in this package."""
    if path is None:
        text = resources.files("qinglang.data").joinpath(DEFAULT_TAXONOMY).read_text("utf-8")
        origin = DEFAULT_TAXONOMY
    else:
        p = Path(path)
        if not p.is_file():
            raise DataError("taxonomy file not found", file=str(p))
        text, origin = p.read_text("utf-8"), str(p)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(f"not valid YAML: {exc}", file=origin) from exc
    return Taxonomy.from_dict(raw, origin)
