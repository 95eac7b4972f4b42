"""Label Studio interop, for a team that already runs it instead of the project's page.

Export: a batch becomes Label Studio tasks (`[{"data": {...}}]`, importable as JSON) plus
the labeling interface (XML: the text and one multiple-choice field, `categories`, whose
choices are the taxonomy keys with their Chinese names as hints).

Import: Label Studio's JSON export (Export → JSON) goes into a label database: each task
becomes an item, each annotation an answer by `labelstudio:<annotator>`; a cancelled
(skipped) annotation is a skip; a submitted annotation with no choice means no category
applies. An unknown choice, a task without text or a taxonomy version other than the
database's is an error naming the task."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import DEFAULT_KIND, Taxonomy
from qinglang.labeling.store import Answer, LabelStore, item_id_of

CHOICES_NAME = "categories"
TEXT_NAME = "text"


def label_config(taxonomy: Taxonomy) -> str:
    """Label Studio's labeling interface for the taxonomy."""
    choices = "\n".join(
        f"    <Choice value={quoteattr(c.key)} hint={quoteattr(f'{c.name_zh}: {c.definition}')}/>"
        for c in taxonomy.categories
    )
    return (
        f'<View>\n  <Text name="{TEXT_NAME}" value="$text"/>\n'
        f'  <Choices name="{CHOICES_NAME}" toName="{TEXT_NAME}" choice="multiple" showInLine="false">\n'
        f"{choices}\n  </Choices>\n</View>\n"
    )


def tasks_of(batch: pd.DataFrame, taxonomy: Taxonomy) -> list[dict]:
    if "text" not in batch.columns:
        raise DataError(f"batch has no 'text' column; found {list(batch.columns)}")
    tasks = []
    for rec in batch.to_dict("records"):
        text = str(rec["text"])
        data = {
            "text": text,
            "item_id": str(rec.get("item_id") or item_id_of(text)),
            "kind": rec.get("kind") or DEFAULT_KIND,
            "taxonomy_version": taxonomy.version,
        }
        tasks.append({"data": data})
    return tasks


def write_tasks(batch: pd.DataFrame, taxonomy: Taxonomy, out: Path) -> tuple[Path, Path]:
    """tasks JSON at `out` and the labeling interface beside it (`<out stem>.label_config.xml`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(tasks_of(batch, taxonomy), ensure_ascii=False, indent=1), "utf-8")
    xml = out.with_name(out.stem + ".label_config.xml")
    xml.write_text(label_config(taxonomy), "utf-8")
    return out, xml


def _annotator(annotation: dict) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return f"labelstudio:{who if who not in (None, '') else 'unknown'}"


def _choices(annotation: dict, taxonomy: Taxonomy, where: str) -> tuple[str, ...]:
    chosen: list[str] = []
    for result in annotation.get("result") or []:
        if result.get("type") != "choices" or result.get("from_name") != CHOICES_NAME:
            continue
        chosen.extend(result.get("value", {}).get("choices", []))
    unknown = [c for c in chosen if c not in taxonomy]
    if unknown:
        raise DataError(f"{where}: unknown categories {unknown}; the taxonomy has {', '.join(taxonomy.keys)}")
    return tuple(chosen)


def _task_item(task: object, index: int, version: str) -> tuple[dict, str]:
    where = f"task {index}"
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise DataError(f"{where}: not a Label Studio task (no 'data' object)")
    data = task["data"]
    where = f"task {task.get('id', index)}"
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: no text")
    if data.get("taxonomy_version") not in (None, version):
        raise DataError(f"{where}: labeled under taxonomy version {data['taxonomy_version']!r}, not {version!r}")
    item = {
        "item_id": str(data.get("item_id") or item_id_of(text)),
        "text": text,
        "kind": data.get("kind") or DEFAULT_KIND,
        "selected_by": "labelstudio",
    }
    return item, where


def import_export(path: Path, store: LabelStore, batch_name: str) -> dict[str, int]:
    """Read a Label Studio JSON export into `store`; returns counts of items and answers."""
    try:
        tasks = json.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read a Label Studio JSON export: {exc}", file=str(path)) from exc
    if not isinstance(tasks, list):
        raise DataError("a Label Studio JSON export is a list of tasks", file=str(path))
    items, answers = [], []
    for i, task in enumerate(tasks):
        item, where = _task_item(task, i, store.taxonomy.version)
        items.append(item)
        for annotation in task.get("annotations") or []:
            skipped = bool(annotation.get("was_cancelled"))
            labels = () if skipped else _choices(annotation, store.taxonomy, where)
            answers.append(Answer(item["item_id"], _annotator(annotation), labels, skipped))
    added = store.add_batch(pd.DataFrame(items), batch_name) if items else 0
    for answer in answers:
        store.answer(answer)
    return {"tasks": len(items), "new_items": added, "answers": len(answers)}
