"""Readers for the public corpora in ../shared/datasets, each in its native format.

Each reader keeps the corpus's official split where it has one and reports every row it
drops, with the reason. A damaged row is an error, never a silent negative: an unknown or
missing native label, a line with too few or too many fields, an id given to two
different texts, or bytes the encoding cannot read each stop the read with the file, the
line and the value (see loaders.rows). See ../shared/datasets/README.md for what each
corpus is."""

from __future__ import annotations

import json
import re
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
from qinglang.data.loaders.rows import (
    check_ids,
    decode_file,
    is_missing,
    json_error,
    json_list,
    label_problem,
    map_labels,
    read_delimited,
    require_values,
    shown,
    text_lines,
)

# Each reader's native labels: the raw value in the file -> the label it emits. These are
# what taxonomy.yaml's `sources` lists may name; any other value in a file is an error.
COLD_LABELS = {"1": "offensive", "0": "safe"}
TOXICN_LABELS = {"1": "toxic", "0": "non_toxic"}
WEIBO21_LABELS = {"1": "fake", "0": "real"}
CHINESEHARM_LABELS = ("低俗色情", "谩骂引战", "欺诈", "博彩", "黑产广告", "不违规")
SOS4K_LABELS = {str(level): f"risk_{level}" for level in range(11)}
CYBERBULLYING_ROLES = ("施暴者", "煽动者", "调和者", "旁观者", "监督者", "控诉者", "辩护者", "非事件参与者")
THUCNEWS_CLASSES = (
    "finance",
    "realty",
    "stocks",
    "education",
    "science",
    "society",
    "politics",
    "sports",
    "game",
    "entertainment",
)
# A CED post file is named <n>_<Weibo post id>_<user id>.json; the post id is its id.
_CED_NAME = re.compile(r"^\d+_(?P<mid>[0-9A-Za-z]+)_\d+\.json$")


@register(
    "cold",
    "cold",
    "COLD offensive language (Weibo/Zhihu comments); official train/dev/test",
    kind="comment",
    labels=tuple(COLD_LABELS.values()),
)
def read_cold(folder: Path) -> NativeRows:
    # COLD's unnamed first column is not an id (it repeats with different texts), so ids are not checked.
    frames, files, dropped = [], [], Counter()
    for split in ("train", "dev", "test"):
        path = require_file(folder / f"{split}.csv")
        table = read_delimited(path, encoding="utf-8-sig")
        raw = table.frame()
        require_columns(raw, ["TEXT", "label"], path)
        labels = map_labels(table, "label", COLD_LABELS)
        frame = native_frame(raw["TEXT"], [split] * len(raw), [(lab,) for lab in labels])
        frames.append(clean_texts(frame, dropped))
        files.append(path)
    return NativeRows("cold", pd.concat(frames, ignore_index=True), files, dropped)


@register(
    "toxicn",
    "toxicn",
    "ToxiCN 1.0 toxic language (Zhihu/Tieba); no official split",
    kind="post",
    labels=tuple(TOXICN_LABELS.values()),
)
def read_toxicn(folder: Path) -> NativeRows:
    path = require_file(folder / "ToxiCN_1.0.csv")
    table = read_delimited(path, encoding="utf-8-sig")
    raw = table.frame()
    require_columns(raw, ["content", "toxic"], path)
    labels = map_labels(table, "toxic", TOXICN_LABELS)
    dropped: Counter = Counter()
    frame = clean_texts(native_frame(raw["content"], [None] * len(raw), [(lab,) for lab in labels]), dropped)
    return NativeRows("toxicn", frame, [path], dropped)


def _ced_list(path: Path) -> dict[str, int]:
    """The post file names of a CED label list, each with its line; a line that is not a
    post file name (a label word, a name cut short) is an error."""
    names: dict[str, int] = {}
    for line, entry in text_lines(decode_file(require_file(path))):
        name = entry.strip()
        if not name:
            continue
        if not _CED_NAME.match(name):
            raise DataError(
                f"expected a post file name like '<n>_<post id>_<user id>.json', got {name!r}", file=str(path), row=line
            )
        names.setdefault(name, line)
    return names


@register(
    "ced",
    "ced",
    "CED Weibo rumours: original posts, rumour / non-rumour by file lists",
    kind="post",
    labels=("rumor", "non_rumor"),
)
def read_ced(folder: Path) -> NativeRows:
    lists = {
        "rumor": (folder / "rumor-repost.txt", _ced_list(folder / "rumor-repost.txt")),
        "non_rumor": (folder / "non-rumor-repost.txt", _ced_list(folder / "non-rumor-repost.txt")),
    }
    both = lists["rumor"][1].keys() & lists["non_rumor"][1].keys()
    posts = folder / "original-microblog"
    if not posts.is_dir():
        raise DataError("folder not found", file=str(posts))
    texts, natives, ids, dropped = [], [], [], Counter()
    if both:
        dropped["listed as both rumour and non-rumour"] += len(both)
    for path in sorted(posts.glob("*.json")):
        name = path.name
        if name in both:
            continue
        label = next((lab for lab, (_, names) in lists.items() if name in names), None)
        if label is None:
            dropped["post in no label list"] += 1
            continue
        post = _ced_post(path)
        list_path, names = lists[label]
        texts.append(post["text"])
        natives.append((label,))
        ids.append((_CED_NAME.match(name)["mid"], post["text"], list_path, names[name]))
    check_ids(ids, "post id")
    listed = lists["rumor"][1].keys() | lists["non_rumor"][1].keys()
    present = {p.name for p in posts.glob("*.json")}
    if listed - present:
        dropped["listed post file missing"] += len(listed - present)
    frame = clean_texts(native_frame(texts, [None] * len(texts), natives), dropped)
    return NativeRows("ced", frame, [lists["rumor"][0], lists["non_rumor"][0], posts], dropped)


def _ced_post(path: Path) -> dict:
    """One CED post: a JSON object with a `text` (null or blank: dropped as empty text)."""
    text = decode_file(path)
    try:
        post = json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_error(exc, path) from None
    if not isinstance(post, dict):
        raise DataError(f"expected a JSON object, got {type(post).__name__}", file=str(path))
    if "text" not in post:
        raise DataError(f"missing key 'text'; found {sorted(post)}", file=str(path))
    if post["text"] is not None and not isinstance(post["text"], str):
        raise DataError(f"key 'text': expected a string, got {post['text']!r}", file=str(path))
    return post


@register(
    "weibo21",
    "weibo21",
    "Weibo21 fake news (nine domains); official train/val/test",
    kind="post",
    labels=tuple(WEIBO21_LABELS.values()),
)
def read_weibo21(folder: Path) -> NativeRows:
    # Weibo21 has no ids: duplicate texts are the dataset merge's business.
    frames, files, dropped = [], [], Counter()
    for split, name in (("train", "train.jsonl"), ("dev", "val.jsonl"), ("test", "test.jsonl")):
        path = require_file(folder / name)
        texts, natives = [], []
        for lineno, line in text_lines(decode_file(path)):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise json_error(exc, path, line, lineno) from None
            if not isinstance(rec, dict) or "content" not in rec or "label" not in rec:
                raise DataError(
                    f"expected an object with 'content' and 'label', got {shown(line.strip())}",
                    file=str(path),
                    row=lineno,
                )
            if rec["content"] is not None and not isinstance(rec["content"], str):
                raise DataError(f"key 'content': expected a string, got {rec['content']!r}", file=str(path), row=lineno)
            value = None if rec["label"] is None else str(rec["label"]).strip()
            if value not in WEIBO21_LABELS:
                raise DataError(label_problem(rec["label"], "label", WEIBO21_LABELS), file=str(path), row=lineno)
            texts.append(rec["content"])
            natives.append((WEIBO21_LABELS[value],))
        frames.append(clean_texts(native_frame(texts, [split] * len(texts), natives), dropped))
        files.append(path)
    return NativeRows("weibo21", pd.concat(frames, ignore_index=True), files, dropped)


@register(
    "chineseharm",
    "chineseharm",
    "ChineseHarm-Bench platform texts, six classes; no official split",
    kind="post",
    labels=CHINESEHARM_LABELS,
)
def read_chineseharm(folder: Path) -> NativeRows:
    path = require_file(folder / "train.json")
    records = json_list(decode_file(path), path)
    texts, natives = [], []
    for line, rec in records:
        if not isinstance(rec, dict) or "文本" not in rec or is_missing(rec.get("标签")):
            raise DataError("expected an object with '文本' and '标签'", file=str(path), row=line)
        label = str(rec["标签"]).strip()
        if label not in CHINESEHARM_LABELS:
            raise DataError(label_problem(rec["标签"], "标签", CHINESEHARM_LABELS), file=str(path), row=line)
        if rec["文本"] is not None and not isinstance(rec["文本"], str):
            raise DataError(f"key '文本': expected a string, got {rec['文本']!r}", file=str(path), row=line)
        texts.append(rec["文本"])
        natives.append((label,))
    dropped: Counter = Counter()
    frame = clean_texts(native_frame(texts, [None] * len(texts), natives), dropped)
    return NativeRows("chineseharm", frame, [path], dropped)


@register(
    "sos4k",
    "sos4k",
    "SOS-4K suicide-risk levels 0-10 (one Weibo thread); official train/val/test",
    kind="comment",
    labels=tuple(SOS4K_LABELS.values()),
)
def read_sos4k(folder: Path) -> NativeRows:
    frames, files, dropped = [], [], Counter()
    for split, prefix in (("train", "train"), ("dev", "val"), ("test", "test")):
        path = require_file(folder / f"{prefix}_data_withExplainFewShot.tsv")
        # Quotes are text in these files (an upstream comment may start with one).
        table = read_delimited(path, sep="\t", quoting=False)
        raw = table.frame()
        require_columns(raw, ["comment", "myLabel"], path)
        natives = [(lab,) for lab in map_labels(table, "myLabel", SOS4K_LABELS)]
        frames.append(clean_texts(native_frame(raw["comment"], [split] * len(raw), natives), dropped))
        files.append(path)
    return NativeRows("sos4k", pd.concat(frames, ignore_index=True), files, dropped)


@register(
    "cyberbullying_roles",
    "cyberbullying_roles",
    "Cyberbullying participant roles (Weibo, GB18030); no official split",
    kind="comment",
    labels=CYBERBULLYING_ROLES,
)
def read_cyberbullying_roles(folder: Path) -> NativeRows:
    path = require_file(folder / "Cyberbullying roles data_original.CSV")
    table = read_delimited(path, encoding="gb18030")
    raw = table.frame()
    require_columns(raw, ["Clean Text", "Particiant Role"], path)
    roles = map_labels(table, "Particiant Role", {r: r for r in CYBERBULLYING_ROLES})
    dropped: Counter = Counter()
    frame = clean_texts(native_frame(raw["Clean Text"], [None] * len(raw), [(r,) for r in roles]), dropped)
    return NativeRows("cyberbullying_roles", frame, [path], dropped, notes=["read as GB18030"])


@register(
    "thucnews_titles",
    "thucnews_titles",
    "THUCNews Sina headlines 2005-2011; its dev file trains, its test file tests",
    kind="title",
    labels=THUCNEWS_CLASSES,
)
def read_thucnews_titles(folder: Path) -> NativeRows:
    classes_path = require_file(folder / "class.txt")
    classes = []
    for lineno, line in text_lines(decode_file(classes_path)):
        if not line.strip():
            continue
        if line.strip() not in THUCNEWS_CLASSES:
            raise DataError(label_problem(line, "class", THUCNEWS_CLASSES), file=str(classes_path), row=lineno)
        classes.append(line.strip())
    ids = {str(i): c for i, c in enumerate(classes)}
    frames, files, dropped = [], [classes_path], Counter()
    for split, name in (("train", "dev.txt"), ("test", "test.txt")):
        path = require_file(folder / name)
        texts, natives = [], []
        for lineno, line in text_lines(decode_file(path)):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                problem = "the line is cut short" if len(fields) < 2 else f"too many fields ({len(fields)})"
                raise DataError(f"{problem}: expected 'title<TAB>class id', got {line!r}", file=str(path), row=lineno)
            title, cls = fields
            if cls.strip() not in ids:
                raise DataError(
                    label_problem(cls, "class id", [f"{i} ({c})" for i, c in ids.items()]), file=str(path), row=lineno
                )
            texts.append(title)
            natives.append((ids[cls.strip()],))
        frames.append(clean_texts(native_frame(texts, [split] * len(texts), natives), dropped))
        files.append(path)
    return NativeRows("thucnews_titles", pd.concat(frames, ignore_index=True), files, dropped)


def taxonomy_keys() -> list[str]:
    """The labels of weibo_trending_labeled: the category keys of the taxonomy it was
    labeled with, the one shipped in this package (a run's own taxonomy may use fewer)."""
    from qinglang.data.taxonomy import load_taxonomy

    return load_taxonomy().keys


@register(
    "weibo_trending_labeled",
    "weibo_trending_labeled",
    "Weibo trending titles labeled with the taxonomy; train.csv trains, dev.csv is held out",
    kind="title",
)
def read_weibo_trending_labeled(folder: Path) -> NativeRows:
    keys = taxonomy_keys()
    frames, files, dropped, ids = [], [], Counter(), []
    for split in ("train", "dev"):
        path = require_file(folder / f"{split}.csv")
        table = read_delimited(path, encoding="utf-8-sig")
        raw = table.frame()
        require_columns(raw, ["text", "labels"], path)
        natives = []
        # An empty `labels` cell means that no category applies: a negative for every one.
        for value, line in zip(raw["labels"], table.lines, strict=True):
            native = () if is_missing(value) else tuple(k.strip() for k in str(value).split(";") if k.strip())
            unknown = [k for k in native if k not in keys]
            if unknown:
                raise DataError(label_problem(unknown[0], "labels", keys), file=str(path), row=line)
            natives.append(native)
        if "id" in raw.columns:
            require_values(raw, "id", table)
            ids.extend(zip(raw["id"], raw["text"], [path] * len(raw), table.lines, strict=True))
        frame = native_frame(raw["text"], [split] * len(raw), natives)
        if "sample" in raw.columns:
            frame["sample"] = raw["sample"].to_numpy()
        frames.append(clean_texts(frame, dropped))
        files.append(path)
    check_ids(ids, "id")
    return NativeRows("weibo_trending_labeled", pd.concat(frames, ignore_index=True), files, dropped)
