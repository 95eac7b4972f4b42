"""`qinglang label agree` and `qinglang label export`: how far labelers agree, where they
disagree, and the labeled table that `qinglang train` reads.

Agreement is Cohen's κ (scikit-learn's `cohen_kappa_score`) per category and per pair of
labelers, over the items both answered (skips left out). A category neither labeler ever
marks on the shared items has no κ (NaN: κ is undefined when both give one constant answer).

The export has one row per item someone answered (not only skipped) and, per category, 1 or
0 where the item's final answer says so and blank (unknown) where it does not: the
adjudication if there is one, else the labelers' common answer, else blank (a disagreement
left unsettled is unknown, never negative)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from qinglang.data.schema import LABEL_DTYPE
from qinglang.labeling.store import LabelStore

MIN_SHARED_ITEMS = 1


def _answered(store: LabelStore) -> pd.DataFrame:
    answers = store.current_answers()
    return answers[~answers["skipped"]]


def _matrix(answers: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per (item, labeler), one 0/1 column per category."""
    rows = {k: [int(k in labels) for labels in answers["labels"]] for k in keys}
    return pd.DataFrame({"item_id": answers["item_id"], "labeler": answers["labeler"], **rows})


def agreement(store: LabelStore) -> pd.DataFrame:
    """κ per category and labeler pair: labeler_a, labeler_b, category, items, positives_a,
    positives_b, agreed, kappa."""
    keys = store.taxonomy.keys
    marks = _matrix(_answered(store), keys)
    out = []
    for a, b in combinations(sorted(marks["labeler"].unique()), 2):
        pair = marks[marks["labeler"] == a].merge(marks[marks["labeler"] == b], on="item_id", suffixes=("_a", "_b"))
        if len(pair) < MIN_SHARED_ITEMS:
            continue
        for k in keys:
            ya, yb = pair[f"{k}_a"].to_numpy(), pair[f"{k}_b"].to_numpy()
            constant = len(set(ya) | set(yb)) < 2
            kappa = np.nan if constant else float(cohen_kappa_score(ya, yb))
            out.append(
                dict(
                    labeler_a=a,
                    labeler_b=b,
                    category=k,
                    items=len(pair),
                    positives_a=int(ya.sum()),
                    positives_b=int(yb.sum()),
                    agreed=int((ya == yb).sum()),
                    kappa=kappa,
                )
            )
    return pd.DataFrame(
        out, columns=["labeler_a", "labeler_b", "category", "items", "positives_a", "positives_b", "agreed", "kappa"]
    )


def disagreements(store: LabelStore) -> pd.DataFrame:
    """Items whose labelers' standing answers differ: item_id, text, category, and per
    category the labelers who marked it and those who did not; `settled` if adjudicated."""
    answers = _answered(store)
    items = store.items().set_index("item_id")["text"]
    settled = set(store.adjudications()["item_id"])
    out = []
    for item_id, group in answers.groupby("item_id", sort=False):
        if len(group) < 2:
            continue
        for k in store.taxonomy.keys:
            yes = sorted(group.loc[[k in labels for labels in group["labels"]], "labeler"])
            no = sorted(set(group["labeler"]) - set(yes))
            if yes and no:
                out.append(
                    dict(
                        item_id=item_id,
                        text=items.get(item_id, ""),
                        category=k,
                        marked_by=",".join(yes),
                        not_marked_by=",".join(no),
                        settled=item_id in settled,
                    )
                )
    return pd.DataFrame(out, columns=["item_id", "text", "category", "marked_by", "not_marked_by", "settled"])


def export_table(store: LabelStore, source: str = "labeled") -> pd.DataFrame:
    """The canonical labeled table: id, text, kind, source, one 0/1/blank column per
    category, labelers (how many answered), adjudicated (0/1)."""
    keys = store.taxonomy.keys
    answers = _answered(store)
    items = store.items().set_index("item_id")
    adjudicated = store.adjudications().set_index("item_id")["labels"]
    rows = []
    for item_id, group in answers.groupby("item_id", sort=False):
        final = adjudicated.get(item_id)
        row = dict(id=item_id, text=items.at[item_id, "text"], kind=items.at[item_id, "kind"], source=source)
        for k in keys:
            votes = {k in labels for labels in group["labels"]}
            if final is not None:
                row[k] = int(k in final)
            else:
                row[k] = int(votes.pop()) if len(votes) == 1 else None
        row.update(labelers=len(group), adjudicated=int(final is not None))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["id", "text", "kind", "source", *keys, "labelers", "adjudicated"])
    for k in keys:
        frame[k] = frame[k].astype(LABEL_DTYPE)
    order = items["position"].reindex(frame["id"]).to_numpy()
    return frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
