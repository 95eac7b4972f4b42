"""Re-rank a live trending list under a policy that is data, not code.

A policy (YAML) holds rules and caps:

- a **rule** matches an entry when one of its categories (or a category of its groups) is
  flagged at an operating point stored in the model (`profile`) or scores at least
  `min_score`; its action is `remove`, `review` or `demote`. An entry takes the most
  severe action of the rules it matches (remove > review > demote > keep), and every
  match is kept as a reason.
- a **cap** limits how many matching entries the top `top` positions may hold (e.g. at
  most 3 celebrity_hype entries in the top 10); the excess moves to just below the top
  block, in list order, as `demote`. All caps hold together.

Removed entries leave the list; `review` entries stay in place, marked (or leave it with
`show_review: false`); a demoted entry moves below the next `demote_by` entries that are
not demoted, or to the bottom.
The input order is rank, then id, and nothing else is random: the same list and policy
give the same output."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import TITLE  # a trending list holds titles: scored, calibrated, flagged as such
from qinglang.models.bundle import ModelBundle
from qinglang.trending.entries import TrendingEntry

ACTIONS = ("keep", "demote", "review", "remove")  # in increasing severity
DEFAULT_POLICY = Path(__file__).with_name("policies") / "trending.yaml"


class PolicyError(ValueError):
    """The policy cannot be used; the message names the file and the field."""


class DuplicateIdsError(ValueError):
    """Two entries of one list share an id, so the decisions could not be told apart."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Match(_Strict):
    categories: list[str] = Field(default_factory=list, description="Category keys.")
    groups: list[str] = Field(
        default_factory=list, description="Taxonomy groups, e.g. harmful; every category in them."
    )
    profile: str | None = Field(None, description="Flagged at this operating point of the model (e.g. auto, review).")
    min_score: float | None = Field(None, ge=0, le=1, description="Or: a score of at least this.")

    @model_validator(mode="after")
    def _complete(self) -> Match:
        if not self.categories and not self.groups:
            raise ValueError("give `categories` or `groups`")
        if (self.profile is None) == (self.min_score is None):
            raise ValueError("give exactly one of `profile` or `min_score`")
        return self


class Rule(_Strict):
    name: str = Field(min_length=1)
    action: Literal["remove", "review", "demote"]
    when: Match


class Cap(Match):
    name: str = Field(min_length=1)
    top: int = Field(ge=1, description="The first `top` positions of the shown list...")
    max: int = Field(ge=0, description="...hold at most this many matching entries.")


class Policy(_Strict):
    version: Literal[1] = 1
    name: str = Field(min_length=1)
    rules: list[Rule] = Field(default_factory=list)
    caps: list[Cap] = Field(default_factory=list)
    demote_by: int | None = Field(None, ge=1, description="Places a demoted entry moves down; null: to the bottom.")
    show_review: bool = Field(True, description="Whether review entries stay in the shown list until reviewed.")

    @model_validator(mode="after")
    def _unique_names(self) -> Policy:
        names = [r.name for r in self.rules] + [c.name for c in self.caps]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"rule and cap names must be unique; repeated: {', '.join(repeated)}")
        return self


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    rank: int
    heat: float | None = None


@dataclass(frozen=True)
class Reason:
    rule: str
    action: str
    category: str
    score: float


@dataclass(frozen=True)
class Decision:
    """`position`: 1-based place in the shown list; None when removed or held for review."""

    entry: Entry
    action: str
    position: int | None
    reasons: tuple[Reason, ...]


class _Matcher:
    """A Match resolved against a model: category columns and their thresholds."""

    def __init__(self, match: Match, bundle: ModelBundle, where: str) -> None:
        keys = bundle.categories
        cols: list[int] = []
        for i, key in enumerate(match.categories):
            if key not in keys:
                raise PolicyError(
                    f"field `{where}.categories[{i}]`: unknown category {key!r} (this model has {', '.join(keys)})"
                )
            cols.append(keys.index(key))
        groups = {bundle.taxonomy[k].group for k in keys}
        for i, group in enumerate(match.groups):
            if group not in groups:
                raise PolicyError(
                    f"field `{where}.groups[{i}]`: unknown group {group!r} (this model has {', '.join(sorted(groups))})"
                )
            cols += [j for j, k in enumerate(keys) if bundle.taxonomy[k].group == group]
        self.cols = np.array(sorted(set(cols)))
        if match.profile is not None:
            profiles = bundle.profiles
            if match.profile not in profiles:
                raise PolicyError(
                    f"field `{where}.profile`: unknown operating point {match.profile!r} (this model has {', '.join(profiles)})"
                )
            self.thresholds = bundle.classifier.profile_thresholds(match.profile, TITLE)[self.cols]
        else:
            self.thresholds = np.full(len(self.cols), match.min_score)
        self.categories = [keys[j] for j in self.cols]

    def hits(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per entry: matched?, the best matching category's index in self.categories, its score."""
        scores = proba[:, self.cols]
        over = scores >= self.thresholds  # NaN (untrained) never matches
        ranked = np.where(over, scores, -np.inf)
        best = ranked.argmax(axis=1)
        return over.any(axis=1), best, scores[np.arange(len(scores)), best]


class Reranker:
    """A policy checked against a model: every category, group and operating point it
    names must exist in the model, so a typo fails at load, not on a live list."""

    def __init__(self, policy: Policy, bundle: ModelBundle, source: str = "<policy>", digest: str = "") -> None:
        self.policy, self.bundle, self.source, self.digest = policy, bundle, source, digest
        try:
            self._rules = [(r, _Matcher(r.when, bundle, f"rules[{i}].when")) for i, r in enumerate(policy.rules)]
            self._caps = [(c, _Matcher(c, bundle, f"caps[{i}]")) for i, c in enumerate(policy.caps)]
        except PolicyError as exc:
            raise PolicyError(f"policy {source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path | None, bundle: ModelBundle) -> Reranker:
        path = Path(path) if path else DEFAULT_POLICY
        try:
            raw_bytes = path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"policy {path}: cannot be read ({exc.strerror or exc})") from None
        return cls(parse_policy(raw_bytes, str(path)), bundle, str(path), hashlib.sha256(raw_bytes).hexdigest())

    def rerank(self, entries: list[Entry], proba: np.ndarray | None = None) -> list[Decision]:
        """Decisions in the new order: the shown list first (by position), then the
        entries taken off it, by rank and id. `proba`: scores of the entries' titles in
        input order, if already computed. Raises DuplicateIdsError."""
        check_unique_ids(entries)
        if proba is None:
            proba = (
                self.bundle.classifier.predict_proba([e.title for e in entries], TITLE)
                if entries
                else np.zeros((0, len(self.bundle.categories)))
            )
        order = sorted(range(len(entries)), key=lambda i: (entries[i].rank, entries[i].id))
        entries, proba = [entries[i] for i in order], proba[order]
        severity = np.zeros(len(entries), dtype=int)
        reasons: list[list[Reason]] = [[] for _ in entries]
        for rule, matcher in self._rules:
            matched, best, score = matcher.hits(proba)
            level = ACTIONS.index(rule.action)
            for i in np.flatnonzero(matched):
                reasons[i].append(Reason(rule.name, rule.action, matcher.categories[best[i]], float(score[i])))
                severity[i] = max(severity[i], level)
        action = [ACTIONS[s] for s in severity]
        shown = [
            i
            for i, a in enumerate(action)
            if a not in ("remove",) and not (a == "review" and not self.policy.show_review)
        ]
        shown = self._demote(shown, action)
        shown = self._apply_caps(shown, proba, action, reasons)
        for i in range(len(entries)):  # the deciding reason first
            reasons[i].sort(key=lambda r: -ACTIONS.index(r.action))
        position = {i: p for p, i in enumerate(shown, start=1)}
        hidden = [i for i in range(len(entries)) if i not in position]
        return [Decision(entries[i], action[i], position.get(i), tuple(reasons[i])) for i in shown + hidden]

    def _demote(self, shown: list[int], action: list[str]) -> list[int]:
        """Each demoted entry moves below the next `demote_by` entries that are not demoted
        (or to the bottom), so a run of demoted entries moves as a block, in order."""
        by = self.policy.demote_by
        if by is None:
            return [i for i in shown if action[i] != "demote"] + [i for i in shown if action[i] == "demote"]
        keyed, passed = [], 0
        for p, i in enumerate(shown):
            if action[i] == "demote":
                keyed.append((passed + by - 0.5, p, i))  # after kept entry number passed + by
            else:
                keyed.append((passed, p, i))
                passed += 1
        return [i for _, _, i in sorted(keyed)]

    def _apply_caps(
        self, shown: list[int], proba: np.ndarray, action: list[str], reasons: list[list[Reason]]
    ) -> list[int]:
        """Fill positions in order, all caps at once: an entry that would exceed any cap in
        its top block waits until the list is past that block, then goes first, in order.
        When too few other entries remain, the waiting ones follow at the end."""
        if not self._caps:
            return shown
        caps = [(cap, matcher, *matcher.hits(proba)) for cap, matcher in self._caps]
        counts = [0] * len(caps)
        placed: list[int] = []
        waiting: list[tuple[int, int]] = []  # (earliest position, entry)

        def blocking(i: int, position: int) -> list[int]:
            return [
                c
                for c, (cap, _, matched, _, _) in enumerate(caps)
                if position <= cap.top and matched[i] and counts[c] >= cap.max
            ]

        def place(i: int) -> None:
            position = len(placed) + 1
            for c, (cap, _, matched, _, _) in enumerate(caps):
                if position <= cap.top and matched[i]:
                    counts[c] += 1
            placed.append(i)

        stream = iter(shown)
        while True:
            ready = next((w for w in waiting if len(placed) + 1 >= w[0] and not blocking(w[1], len(placed) + 1)), None)
            if ready is not None:
                waiting.remove(ready)
                place(ready[1])
                continue
            i = next(stream, None)
            if i is None:
                break
            held = blocking(i, len(placed) + 1)
            if not held:
                place(i)
                continue
            waiting.append((max(caps[c][0].top for c in held) + 1, i))
            for c in held:
                cap, matcher, _, best, score = caps[c]
                reasons[i].append(Reason(cap.name, "demote", matcher.categories[best[i]], float(score[i])))
            if action[i] == "keep":
                action[i] = "demote"
        return placed + [i for _, i in waiting]


def check_unique_ids(entries: list[Entry]) -> None:
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        seen, repeated = set(), []
        for ident in ids:
            if ident in seen and ident not in repeated:
                repeated.append(ident)
            seen.add(ident)
        raise DuplicateIdsError(f"entry ids must be unique; repeated: {', '.join(repeated[:5])}")


def parse_policy(text: bytes | str, origin: str = "<policy>") -> Policy:
    """Parse and validate a policy; errors name the field, e.g. `rules[0].action`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy {origin}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise PolicyError(
            f"policy {origin}: expected a mapping with `name`, `rules` and `caps`, got {type(raw).__name__}"
        )
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"field `{_field_path(e['loc'])}`: {e['msg']}" for e in exc.errors()[:5])
        raise PolicyError(f"policy {origin}: {problems}") from None


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def entries_from_records(records: object, origin: str = "<input>") -> list[Entry]:
    """Entries from a list of mappings with id, title, rank and optional heat, checked by
    the same schema as the HTTP API (numeric ids, common in files, are taken as text); an
    invalid record is an error naming its 1-based position and field, never a silent skip."""
    if isinstance(records, dict) and "entries" in records:
        records = records["entries"]
    if not isinstance(records, list):
        raise DataError(
            f'expected a list of entries (or {{"entries": [...]}}), got {type(records).__name__}', file=origin
        )
    out = []
    for n, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise DataError(f"entry is a {type(rec).__name__}, not an object with id, title, rank", file=origin, row=n)
        if isinstance(rec.get("id"), int) and not isinstance(rec["id"], bool):
            rec = {**rec, "id": str(rec["id"])}
        try:
            entry = TrendingEntry.model_validate(rec)
        except ValidationError as exc:
            problems = "; ".join(f"field `{_field_path(e['loc'])}`: {e['msg']}" for e in exc.errors()[:3])
            raise DataError(problems, file=origin, row=n) from None
        out.append(Entry(entry.id, entry.title, entry.rank, entry.heat))
    return out


def decision_records(decisions: list[Decision]) -> list[dict]:
    """JSON-ready decisions, as the HTTP API returns them."""
    return [
        {
            "id": d.entry.id,
            "title": d.entry.title,
            "rank": d.entry.rank,
            "heat": d.entry.heat,
            "position": d.position,
            "action": d.action,
            "reasons": [
                {"rule": r.rule, "action": r.action, "category": r.category, "score": r.score} for r in d.reasons
            ],
        }
        for d in decisions
    ]


def read_entries(path: Path) -> list[Entry]:
    """The entries of a JSON file (a list, or {"entries": [...]}) or of a table file (CSV,
    TSV, Parquet, JSONL with id, title, rank and optional heat columns)."""
    return entries_from_records(_records_of(path), str(path))


def _records_of(path: Path) -> object:
    import json

    import pandas as pd

    from qinglang.data.loaders.tabular import read_table

    if path.suffix.lower() == ".json":
        try:
            return json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise DataError("file not found", file=str(path)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"not valid JSON ({exc})", file=str(path)) from None
        except OSError as exc:
            raise DataError(f"cannot be read ({exc.strerror or exc})", file=str(path)) from None
    table = read_table(path)
    records = [{k: (None if pd.isna(v) else v) for k, v in rec.items()} for rec in table.to_dict(orient="records")]
    for rec in records:  # CSV cells are text
        for key in ("rank", "heat"):
            if isinstance(rec.get(key), str):
                rec[key] = _number(rec[key])
    return records


def _number(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
