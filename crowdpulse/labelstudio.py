"""Label Studio round trip: tasks with the model's pre-annotations out, human labels back in.

Tasks follow Label Studio's import format (a JSON list of ``{"data": ...,
"predictions": [...]}``) for the labeling config :data:`LABEL_CONFIG`; the
import side reads Label Studio's JSON export (tasks with ``annotations``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from crowdpulse.errors import CrowdpulseError
from crowdpulse.store import Store
from models.labels import LABELS

log = logging.getLogger(__name__)

FROM_NAME = "sentiment"
TO_NAME = "text"
ORIGIN = "label-studio"

#: The labeling interface these tasks are made for (paste into the project's Labeling Setup).
LABEL_CONFIG = f"""<View>
  <Header value="$source $id ($created_at)"/>
  <Text name="{TO_NAME}" value="$text"/>
  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single-radio" showInLine="true">
{chr(10).join(f'    <Choice value="{label}"/>' for label in LABELS)}
  </Choices>
</View>
"""


class LabelStudioError(CrowdpulseError):
    """A Label Studio file that cannot be read, phrased for the user."""


@dataclass(frozen=True)
class ImportResult:
    """What ``import-labels`` did."""

    tasks: int
    annotations: int
    inserted: int
    updated: int
    skipped: int
    unknown_posts: int


# ------------------------------------------------------------------ export
def http_url(value: Any) -> str | None:
    """``value`` when it is an absolute http(s) URL, else None: Label Studio shows data.url as a link,
    so a ``javascript:`` or ``data:`` URL stored with a post (a page can write anything there) must
    never reach it."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    parts = urlsplit(url)
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def tasks_from_frame(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Label Studio tasks, one per export row, with the model's label as a prediction."""
    tasks = []
    for rec in df.to_dict(orient="records"):
        created = rec.get("created_at")
        data = {
            "text": rec.get("text", ""),
            "source": rec["source"],
            "id": rec["id"],
            "thread_id": rec.get("thread_id"),
            "url": http_url(rec.get("url")),
            "created_at": created.isoformat().replace("+00:00", "Z") if isinstance(created, pd.Timestamp) else created,
            "tickers": ", ".join(rec.get("tickers") or []),
            "themes": ", ".join(rec.get("themes") or []),
        }
        if "user_label" in rec and isinstance(rec["user_label"], str):
            data["user_label"] = rec["user_label"]
        if "split" in rec:
            data["split"] = rec["split"]
        tasks.append({
            "data": data,
            "predictions": [{
                "model_version": rec["model_id"],
                "score": float(rec["confidence"]),
                "result": [{
                    "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                    "value": {"choices": [rec["label"]]},
                }],
            }],
        })
    return tasks


def write_tasks(df: pd.DataFrame, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tasks_from_frame(df), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path


# ------------------------------------------------------------------ import
def _annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        for key in ("email", "username", "id"):
            if completed_by.get(key) not in (None, ""):
                return str(completed_by[key])
        return "unknown"
    return "unknown" if completed_by in (None, "") else str(completed_by)


def _timestamp(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_localize(None).to_pydatetime()


def _choice(result: list[dict[str, Any]]) -> str | None:
    for item in result or []:
        if not isinstance(item, dict):
            continue
        if item.get("from_name") not in (None, FROM_NAME) and item.get("type") != "choices":
            continue
        choices = (item.get("value") or {}).get("choices")
        if choices:
            return str(choices[0]).strip().lower()
    return None


def read_annotations(path: Path | str) -> tuple[pd.DataFrame, int, int]:
    """Rows for the ``labels`` table from a Label Studio JSON export.

    Returns ``(frame, n_tasks, n_skipped)``; an annotation is skipped when it
    was cancelled, has no choice, or its choice is not one of LABELS (each
    logged). The frame has source, post_id, annotator, label, labeled_at, origin.
    """
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise LabelStudioError(f"{path} is not a UTF-8 text file; export the project from Label Studio as JSON") from None
    except json.JSONDecodeError as exc:
        raise LabelStudioError(f"{path} is not valid JSON (line {exc.lineno}): export the project from Label Studio as JSON") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise LabelStudioError(f"{path} is not a Label Studio JSON export (expected a list of tasks)")
    rows, skipped = [], 0
    for n, task in enumerate(tasks, 1):
        data = task.get("data") or {}
        if "source" not in data or "id" not in data:
            raise LabelStudioError(
                f"task {task.get('id', n)} in {path} has no data.source/data.id: "
                "import only tasks exported by `crowdpulse export --format labelstudio`"
            )
        anns = task.get("annotations") or task.get("completions") or []
        if not isinstance(anns, list) or not all(isinstance(a, dict) for a in anns):
            raise LabelStudioError(f"task {task.get('id', n)} in {path}: 'annotations' is not a list of annotation "
                                   "objects; export the project from Label Studio as JSON")
        for ann in anns:
            label = _choice(ann.get("result") or [])
            if ann.get("was_cancelled") or label is None or label not in LABELS:
                if label is not None and label not in LABELS:
                    log.warning("task %s: label %r is not one of %s; skipped", task.get("id", n), label, LABELS)
                skipped += 1
                continue
            rows.append({
                "source": str(data["source"]), "post_id": str(data["id"]),
                "annotator": _annotator(ann.get("completed_by")), "label": label,
                "labeled_at": _timestamp(ann.get("updated_at") or ann.get("created_at"))
                or datetime.now(timezone.utc).replace(tzinfo=None),
                "origin": ORIGIN,
            })
    frame = pd.DataFrame(rows, columns=["source", "post_id", "annotator", "label", "labeled_at", "origin"])
    return frame, len(tasks), skipped


def import_labels(store: Store, path: Path | str) -> ImportResult:
    """Upsert a Label Studio export's annotations into ``labels`` (keyed by post and annotator)."""
    frame, n_tasks, skipped = read_annotations(path)
    unknown = 0
    if not frame.empty:
        keys = frame[["source", "post_id"]].drop_duplicates()
        known = store.query(
            """SELECT k.source, k.post_id
               FROM (SELECT unnest(?::VARCHAR[]) AS source, unnest(?::VARCHAR[]) AS post_id) k
               JOIN posts p ON p.source = k.source AND p.id = k.post_id""",
            [list(keys["source"]), list(keys["post_id"])],
        )
        ok = frame.set_index(["source", "post_id"]).index.isin(known.set_index(["source", "post_id"]).index)
        unknown = int((~ok).sum())
        if unknown:
            log.warning("%d annotations name posts not in this database; stored anyway", unknown)
    counts = store.upsert("labels", frame)
    log.info("imported %d annotations from %s", len(frame), path)
    return ImportResult(tasks=n_tasks, annotations=len(frame), inserted=counts.inserted,
                        updated=counts.updated, skipped=skipped, unknown_posts=unknown)
