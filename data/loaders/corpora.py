"""Readers for the public corpora in ../shared/datasets, each in its native format.

Each reader keeps the corpus's official split where it has one and reports every row it
drops, with the reason. See ../shared/datasets/README.md for what each corpus is."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.loaders.base import (
    NativeRows,
    clean_texts,
    native_frame,
    register,
    require_columns,
    require_file,
)


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    require_file(path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse as CSV: {exc}", file=str(path)) from exc


def _binary(value: object, path: Path, row: int, column: str) -> int:
    if str(value).strip() in ("0", "1"):
        return int(str(value).strip())
    raise DataError(f"column {column!r}: expected 0 or 1, got {value!r}", file=str(path), row=row)


@register("cold", "cold", "COLD offensive language (Weibo/Zhihu comments); official train/dev/test", kind="comment")
def read_cold(folder: Path) -> NativeRows:
    frames, files, dropped = [], [], Counter()
    for split in ("train", "dev", "test"):
        path = folder / f"{split}.csv"
        raw = _read_csv(path, encoding="utf-8-sig")
        require_columns(raw, ["TEXT", "label"], path)
        labels = ["offensive" if _binary(v, path, i + 2, "label") else "safe" for i, v in enumerate(raw["label"])]
        frame = native_frame(raw["TEXT"], [split] * len(raw), [(lab,) for lab in labels])
        frames.append(clean_texts(frame, dropped))
        files.append(path)
    return NativeRows("cold", pd.concat(frames, ignore_index=True), files, dropped)


@register("toxicn", "toxicn", "ToxiCN 1.0 toxic language (Zhihu/Tieba); no official split", kind="post")
def read_toxicn(folder: Path) -> NativeRows:
    path = folder / "ToxiCN_1.0.csv"
    raw = _read_csv(path, encoding="utf-8-sig")
    require_columns(raw, ["content", "toxic"], path)
    labels = ["toxic" if _binary(v, path, i + 2, "toxic") else "non_toxic" for i, v in enumerate(raw["toxic"])]
    dropped: Counter = Counter()
    frame = clean_texts(native_frame(raw["content"], [None] * len(raw), [(lab,) for lab in labels]), dropped)
    return NativeRows("toxicn", frame, [path], dropped)


@register("ced", "ced", "CED Weibo rumours: original posts, rumour / non-rumour by file lists", kind="post")
def read_ced(folder: Path) -> NativeRows:
    lists = {}
    for label, name in (("rumor", "rumor-repost.txt"), ("non_rumor", "non-rumor-repost.txt")):
        path = require_file(folder / name)
        lists[label] = {line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()}
    both = lists["rumor"] & lists["non_rumor"]
    posts = folder / "original-microblog"
    if not posts.is_dir():
        raise DataError("folder not found", file=str(posts))
    texts, natives, dropped = [], [], Counter()
    if both:
        dropped["listed as both rumour and non-rumour"] += len(both)
    for path in sorted(posts.glob("*.json")):
        name = path.name
        label = "rumor" if name in lists["rumor"] else "non_rumor" if name in lists["non_rumor"] else None
        if name in both:
            continue
        if label is None:
            dropped["post in no label list"] += 1
            continue
        try:
            post = json.loads(path.read_text("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"not valid JSON: {exc}", file=str(path)) from exc
        if not isinstance(post, dict):
            raise DataError("expected a JSON object", file=str(path))
        texts.append(post.get("text"))
        natives.append((label,))
    listed = lists["rumor"] | lists["non_rumor"]
    present = {p.name for p in posts.glob("*.json")}
    if listed - present:
        dropped["listed post file missing"] += len(listed - present)
    frame = clean_texts(native_frame(texts, [None] * len(texts), natives), dropped)
    return NativeRows("ced", frame, [folder / "rumor-repost.txt", folder / "non-rumor-repost.txt", posts], dropped)


@register("weibo21", "weibo21", "Weibo21 fake news (nine domains); official train/val/test", kind="post")
def read_weibo21(folder: Path) -> NativeRows:
    frames, files, dropped = [], [], Counter()
    for split, name in (("train", "train.jsonl"), ("dev", "val.jsonl"), ("test", "test.jsonl")):
        path = require_file(folder / name)
        texts, natives = [], []
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"not valid JSON: {exc}", file=str(path), row=lineno) from exc
                if not isinstance(rec, dict) or "content" not in rec or "label" not in rec:
                    raise DataError("expected an object with 'content' and 'label'", file=str(path), row=lineno)
                texts.append(rec["content"])
                natives.append(("fake" if _binary(rec["label"], path, lineno, "label") else "real",))
        frames.append(clean_texts(native_frame(texts, [split] * len(texts), natives), dropped))
        files.append(path)
    return NativeRows("weibo21", pd.concat(frames, ignore_index=True), files, dropped)


@register("chineseharm", "chineseharm", "ChineseHarm-Bench platform texts, six classes; no official split", kind="post")
def read_chineseharm(folder: Path) -> NativeRows:
    path = require_file(folder / "train.json")
    try:
        records = json.loads(path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON: {exc}", file=str(path)) from exc
    if not isinstance(records, list):
        raise DataError("expected a JSON list of {文本, 标签} objects", file=str(path))
    texts, natives = [], []
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict) or "文本" not in rec or not rec.get("标签"):
            raise DataError("expected an object with '文本' and '标签'", file=str(path), row=i)
        texts.append(rec["文本"])
        natives.append((str(rec["标签"]),))
    dropped: Counter = Counter()
    frame = clean_texts(native_frame(texts, [None] * len(texts), natives), dropped)
    return NativeRows("chineseharm", frame, [path], dropped)


@register(
    "sos4k", "sos4k", "SOS-4K suicide-risk levels 0-10 (one Weibo thread); official train/val/test", kind="comment"
)
def read_sos4k(folder: Path) -> NativeRows:
    frames, files, dropped = [], [], Counter()
    for split, prefix in (("train", "train"), ("dev", "val"), ("test", "test")):
        path = folder / f"{prefix}_data_withExplainFewShot.tsv"
        raw = _read_csv(path, sep="\t", quoting=3)
        require_columns(raw, ["comment", "myLabel"], path)
        natives = []
        for i, v in enumerate(raw["myLabel"], start=2):
            level = str(v).strip()
            if not level.isdigit() or not 0 <= int(level) <= 10:
                raise DataError(f"column 'myLabel': expected 0-10, got {v!r}", file=str(path), row=i)
            natives.append((f"risk_{int(level)}",))
        frames.append(clean_texts(native_frame(raw["comment"], [split] * len(raw), natives), dropped))
        files.append(path)
    return NativeRows("sos4k", pd.concat(frames, ignore_index=True), files, dropped)


@register(
    "cyberbullying_roles",
    "cyberbullying_roles",
    "Cyberbullying participant roles (Weibo, GB18030); no official split",
    kind="comment",
)
def read_cyberbullying_roles(folder: Path) -> NativeRows:
    path = folder / "Cyberbullying roles data_original.CSV"
    raw = _read_csv(path, encoding="gb18030")
    require_columns(raw, ["Clean Text", "Particiant Role"], path)
    dropped: Counter = Counter()
    role = raw["Particiant Role"].astype("string").str.strip()
    if role.isna().any():
        dropped["missing role"] += int(role.isna().sum())
    raw = raw.loc[role.notna()]
    role = role[role.notna()]
    frame = native_frame(raw["Clean Text"], [None] * len(raw), [(r,) for r in role])
    frame = clean_texts(frame, dropped)
    return NativeRows("cyberbullying_roles", frame, [path], dropped, notes=["read as GB18030"])


@register(
    "thucnews_titles",
    "thucnews_titles",
    "THUCNews Sina headlines 2005-2011; its dev file trains, its test file tests",
    kind="title",
)
def read_thucnews_titles(folder: Path) -> NativeRows:
    classes_path = require_file(folder / "class.txt")
    classes = [c.strip() for c in classes_path.read_text("utf-8").splitlines() if c.strip()]
    frames, files, dropped = [], [classes_path], Counter()
    for split, name in (("train", "dev.txt"), ("test", "test.txt")):
        path = require_file(folder / name)
        texts, natives = [], []
        for lineno, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            title, sep, cls = line.rpartition("\t")
            if not sep or not cls.strip().isdigit() or int(cls) >= len(classes):
                raise DataError(
                    f"expected 'title<TAB>class id' with id < {len(classes)}, got {line!r}", file=str(path), row=lineno
                )
            texts.append(title)
            natives.append((classes[int(cls)],))
        frames.append(clean_texts(native_frame(texts, [split] * len(texts), natives), dropped))
        files.append(path)
    return NativeRows("thucnews_titles", pd.concat(frames, ignore_index=True), files, dropped)


@register(
    "weibo_trending_labeled",
    "weibo_trending_labeled",
    "Weibo trending titles labeled with the taxonomy; train.csv trains, dev.csv is held out",
    kind="title",
)
def read_weibo_trending_labeled(folder: Path) -> NativeRows:
    frames, files, dropped = [], [], Counter()
    for split in ("train", "dev"):
        path = folder / f"{split}.csv"
        raw = _read_csv(path, encoding="utf-8-sig")
        require_columns(raw, ["text", "labels"], path)
        natives = [
            tuple(k.strip() for k in str(v).split(";") if k.strip()) if pd.notna(v) else () for v in raw["labels"]
        ]
        frame = native_frame(raw["text"], [split] * len(raw), natives)
        if "sample" in raw.columns:
            frame["sample"] = raw["sample"].to_numpy()
        frames.append(clean_texts(frame, dropped))
        files.append(path)
    return NativeRows("weibo_trending_labeled", pd.concat(frames, ignore_index=True), files, dropped)
