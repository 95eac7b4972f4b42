"""Gated promotion between MLflow registry aliases (by default `candidate` → `champion`).

Serving follows an alias, so moving it is the deployment decision. The gate refuses a
candidate whose metric drops, in any category, by more than a tolerance against the
champion on the same rows (a `compare_scores` table), including a category the champion
handled and the candidate does not. The point delta decides, not the interval: with a few
dozen positives an interval is too wide to catch real regressions; the interval only tells
the reader how sure the drop is. `force` overrides the gate, and every promotion records
on the model version who moved the alias, when, why and over which regressions; a refused
attempt is recorded on the candidate too."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient

from qinglang.models.registry import configure_tracking
from qinglang.training.compare import MACRO, compared_metrics, format_comparison
from qinglang.training.config import load_config
from qinglang.training.evaluation import HeldOutSpec, compare_models


@dataclass(frozen=True)
class PromotionPolicy:
    """`categories=None` checks every category row of the comparison (not `_macro`: a
    macro drop beyond the tolerance implies some category drops beyond it)."""

    metric: str = "average_precision"
    tolerance: float = 0.01
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Regression:
    category: str
    metric: str
    baseline: float
    candidate: float  # NaN when the candidate did not train the category
    delta: float
    interval: tuple[float, float]
    confident: bool  # even the interval's upper bound is below −tolerance

    def describe(self) -> str:
        if pd.isna(self.candidate):
            return f"{self.category}: {self.metric} {self.baseline:.3f} in the champion; not trained in the candidate"
        low, high = self.interval
        sure = "; beyond the tolerance across the whole interval" if self.confident else ""
        return (
            f"{self.category}: {self.metric} {self.baseline:.3f} → {self.candidate:.3f} "
            f"(delta {self.delta:+.3f}, interval [{low:+.3f}, {high:+.3f}]{sure})"
        )

    def summary(self) -> dict:
        values = {"baseline": self.baseline, "candidate": self.candidate, "delta": self.delta}
        return {"category": self.category, **{k: None if pd.isna(v) else round(float(v), 4) for k, v in values.items()}}


@dataclass(frozen=True)
class PromotionResult:
    name: str
    version: str
    from_alias: str
    to_alias: str
    previous_version: str | None
    forced: bool
    regressions: tuple[Regression, ...]
    promoted_by: str
    promoted_at: str
    message: str


class PromotionRefused(RuntimeError):
    def __init__(self, message: str, regressions: list[Regression]) -> None:
        super().__init__(message)
        self.regressions = regressions


def check_regressions(comparison: pd.DataFrame, policy: PromotionPolicy) -> list[Regression]:
    """Categories whose candidate − baseline on `policy.metric` is below −tolerance, plus
    those trained in the baseline but not in the candidate."""
    metric = policy.metric
    if metric not in compared_metrics(comparison):
        raise ValueError(f"the comparison has no {metric!r}; it has {compared_metrics(comparison)}")
    if policy.categories is None:
        rows = comparison[comparison["category"] != MACRO]
    else:
        if missing := sorted(set(policy.categories) - set(comparison["category"])):
            raise ValueError(f"categories {missing} are not in the comparison (no labeled rows?)")
        rows = comparison[comparison["category"].isin(policy.categories)]
    found = []
    for rec in rows.to_dict("records"):
        delta, high = rec[f"delta_{metric}"], rec[f"delta_{metric}_high"]
        if delta < -policy.tolerance or rec["status"] == "not trained in candidate":
            found.append(
                Regression(
                    category=rec["category"],
                    metric=metric,
                    baseline=rec[f"baseline_{metric}"],
                    candidate=rec[f"candidate_{metric}"],
                    delta=delta,
                    interval=(rec[f"delta_{metric}_low"], high),
                    confident=bool(high < -policy.tolerance),
                )
            )
    return found


@dataclass(frozen=True)
class PromotionRequest:
    """Move `to_alias` of model `name` to the version `from_alias` names, for `reason`.
    `comparison` must compare the current `to_alias` version (baseline) with the
    `from_alias` one (candidate); it may be None only when there is no champion yet or with
    `force`. `user` is recorded as who promoted (default: the login name)."""

    name: str
    comparison: pd.DataFrame | None
    policy: PromotionPolicy
    reason: str
    from_alias: str = "candidate"
    to_alias: str = "champion"
    force: bool = False
    user: str | None = None


def promote(client: MlflowClient, request: PromotionRequest) -> PromotionResult:
    """Point `to_alias` at the version `from_alias` names, if the gate allows or `force`.
    Raises PromotionRefused (after tagging the candidate) on regressions."""
    if not request.reason.strip():
        raise ValueError("a promotion needs a reason: who moved the alias, when and why is recorded")
    candidate, champion = _versions(client, request)
    comparison, policy = request.comparison, request.policy
    regressions = check_regressions(comparison, policy) if comparison is not None else []
    now = datetime.now(UTC).isoformat(timespec="seconds")
    move = (
        f"{request.name}@{request.to_alias} from version {champion or '(none)'} "
        f"to version {candidate} (@{request.from_alias})"
    )
    if regressions and not request.force:
        _refuse(client, request, candidate, move, regressions, now)
    message = _moved_message(request, move, champion, regressions)
    promoted_by = request.user or _current_user()
    client.set_registered_model_alias(request.name, request.to_alias, candidate)
    tags = {
        "promoted_by": promoted_by,
        "promoted_at": now,
        "promotion_reason": request.reason.strip(),
        "promoted_from_alias": request.from_alias,
        "previous_champion_version": champion or "none",
        "promotion_forced": str(request.force).lower(),
        "promotion_regressions": json.dumps([r.summary() for r in regressions], ensure_ascii=False)
        if regressions
        else ("none" if comparison is not None else "not checked"),
        "promotion_policy": json.dumps(asdict(policy)),
    }
    for key, value in tags.items():
        client.set_model_version_tag(request.name, candidate, key, value)
    return PromotionResult(
        request.name,
        candidate,
        request.from_alias,
        request.to_alias,
        champion,
        request.force,
        tuple(regressions),
        promoted_by,
        now,
        message,
    )


def _versions(client: MlflowClient, request: PromotionRequest) -> tuple[str, str | None]:
    """(candidate, current champion or None), after checking a move makes sense."""
    name, to_alias = request.name, request.to_alias
    candidate = str(client.get_model_version_by_alias(name, request.from_alias).version)
    champion = None
    if to_alias in client.get_registered_model(name).aliases:  # a missing alias is not an error here
        champion = str(client.get_model_version_by_alias(name, to_alias).version)
    if champion == candidate:
        raise ValueError(f"{name} version {candidate} already holds @{to_alias}")
    if champion is not None and request.comparison is None and not request.force:
        raise ValueError(f"{name}@{to_alias} is version {champion}: compare the candidate with it first, or force")
    return candidate, champion


def _refuse(
    client: MlflowClient, request: PromotionRequest, candidate: str, move: str, regressions: list[Regression], now: str
) -> None:
    """Record the refused attempt on the candidate and raise PromotionRefused."""
    policy = request.policy
    message = "\n".join(
        [
            f"refused to move {move}: {len(regressions)} regression(s) beyond tolerance {policy.tolerance} on {policy.metric}:"
        ]
        + [f"  {r.describe()}" for r in regressions]
        + ["Promote anyway with force (and a reason), or fix the candidate."]
    )
    client.set_model_version_tag(request.name, candidate, "last_promotion_refused_at", now)
    client.set_model_version_tag(request.name, candidate, "last_promotion_refused_reason", message)
    raise PromotionRefused(message, regressions)


def _moved_message(request: PromotionRequest, move: str, champion: str | None, regressions: list[Regression]) -> str:
    policy = request.policy
    if champion is None:
        return f"moved {move}: no version held @{request.to_alias} yet, so there was nothing to compare against"
    if request.comparison is None:
        return f"moved {move} without a comparison (forced)"
    if regressions:
        return f"moved {move} despite {len(regressions)} regression(s) on {policy.metric} (forced): " + "; ".join(
            r.describe() for r in regressions
        )
    return f"moved {move}: no category regresses by more than {policy.tolerance} on {policy.metric}"


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


@dataclass(frozen=True)
class GatedPromotion:
    """What `qinglang promote` asks for: move `to_alias` of model `name` to the version
    `from_alias` names, gated on a comparison over `held_out` rows (config's `promotion`
    section, `tolerance` overriding it when set)."""

    name: str
    reason: str
    from_alias: str = "candidate"
    to_alias: str = "champion"
    force: bool = False
    config: Path | None = None
    tolerance: float | None = None
    n_boot: int = 1000


def promote_gated(
    request: GatedPromotion, held_out: HeldOutSpec, show: Callable[[str], None] = lambda _: None
) -> PromotionResult:
    """Compare the current champion (if any) with the candidate on the same held-out rows,
    `show` the table, then promote or raise PromotionRefused."""
    section = load_config(request.config).promotion
    tolerance = section.tolerance if request.tolerance is None else request.tolerance
    policy = PromotionPolicy(section.metric, tolerance, tuple(section.categories) if section.categories else None)
    configure_tracking()
    client = MlflowClient()
    name, to_alias, from_alias = request.name, request.to_alias, request.from_alias
    comparison = None
    if to_alias in client.get_registered_model(name).aliases:
        comparison, rows = compare_models(
            f"models:/{name}@{to_alias}", f"models:/{name}@{from_alias}", held_out, request.n_boot, 0
        )
        show(f"@{to_alias} vs @{from_alias} on {rows.description} ({len(rows.table)} rows)\n")
        show(format_comparison(comparison))
    return promote(
        client,
        PromotionRequest(
            name,
            comparison,
            policy,
            request.reason,
            from_alias=from_alias,
            to_alias=to_alias,
            force=request.force,
        ),
    )
