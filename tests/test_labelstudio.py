"""The Label Studio round trip: export tasks with pre-annotations, label, import, train on the labels."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from crowdpulse.export import export, labeled_training_frame, labels_provenance
from crowdpulse.labelstudio import LABEL_CONFIG, LabelStudioError, import_labels, read_annotations
from models.labels import LABELS
from test_export_synthetic import MODEL, fill_synthetic


@pytest.fixture
def store(fresh_store):
    fill_synthetic(fresh_store)
    return fresh_store


def annotate(tasks: list[dict], *, annotator: dict | int, pick, cancel_every: int = 0, day: int = 2) -> list[dict]:
    """Turn exported tasks into a Label Studio JSON export, as Label Studio writes one."""
    out = []
    for i, task in enumerate(tasks, 1):
        label = pick(task)
        out.append({
            "id": 1000 + i,
            "data": task["data"],
            "predictions": task["predictions"],
            "annotations": [{
                "id": 5000 + i,
                "completed_by": annotator,
                "result": [{"id": f"r{i}", "type": "choices", "from_name": "sentiment", "to_name": "text",
                            "origin": "manual", "value": {"choices": [label]}}],
                "was_cancelled": bool(cancel_every and i % cancel_every == 0),
                "ground_truth": False,
                "created_at": f"2024-06-{day:02d}T10:{i % 60:02d}:00.123456Z",
                "updated_at": f"2024-06-{day:02d}T10:{i % 60:02d}:30.000000Z",
                "lead_time": 4.2,
                "task": 1000 + i,
            }],
            "meta": {}, "created_at": "2024-06-01T09:00:00Z", "updated_at": "2024-06-02T11:00:00Z",
            "inner_id": i, "total_annotations": 1, "cancelled_annotations": 0, "project": 3,
        })
    return out


def truth(task):  # a "human" who reads the thread's lean from the synthetic text
    text = task["data"]["text"]
    return next(label for label in LABELS if f"looks {label}" in text)


def test_tasks_carry_prediction_and_ids(store, tmp_path):
    path = tmp_path / "tasks.json"
    result = export(store, path, fmt="labelstudio", least_confident=20)
    tasks = json.loads(path.read_text())
    assert len(tasks) == result.rows == 20
    t = tasks[0]
    assert {"text", "source", "id", "thread_id", "created_at"} <= set(t["data"])
    pred = t["predictions"][0]
    assert pred["model_version"] == MODEL and 0 < pred["score"] <= 1
    assert pred["result"][0]["type"] == "choices" and pred["result"][0]["from_name"] == "sentiment"
    assert pred["result"][0]["value"]["choices"][0] in LABELS
    scores = [x["predictions"][0]["score"] for x in tasks]
    all_conf = export(store, tmp_path / "all.json", fmt="labelstudio")
    everything = json.loads((tmp_path / "all.json").read_text())
    assert max(scores) <= sorted(x["predictions"][0]["score"] for x in everything)[19]
    assert all_conf.rows == 150
    assert '<Choices name="sentiment" toName="text"' in LABEL_CONFIG
    assert all(f'<Choice value="{label}"/>' in LABEL_CONFIG for label in LABELS)


def test_import_round_trip_into_labels_table_and_training_frame(store, tmp_path):
    export(store, tmp_path / "tasks.json", fmt="labelstudio", least_confident=30)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    ls_export = annotate(tasks, annotator={"id": 7, "email": "ann@example.com"}, pick=truth, cancel_every=10)
    (tmp_path / "ls.json").write_text(json.dumps(ls_export))
    r = import_labels(store, tmp_path / "ls.json")
    assert (r.tasks, r.annotations, r.skipped, r.inserted, r.updated) == (30, 27, 3, 27, 0)
    labels = store.query("SELECT * FROM labels ORDER BY post_id")
    assert len(labels) == 27 and set(labels["origin"]) == {"label-studio"}
    assert set(labels["annotator"]) == {"ann@example.com"}
    assert labels["labeled_at"].notna().all() and str(labels["labeled_at"].iloc[0]).startswith("2024-06-02 10:")
    # re-import is idempotent; a second annotator (numeric id, as LS JSON export writes it) adds rows
    assert import_labels(store, tmp_path / "ls.json").updated == 27
    second = annotate(tasks[:5], annotator=12, pick=lambda t: "neutral", day=3)
    (tmp_path / "ls2.json").write_text(json.dumps(second))
    assert import_labels(store, tmp_path / "ls2.json").inserted == 5
    frame = labeled_training_frame(store, origin="label-studio")
    assert list(frame.columns) == ["source", "post_id", "text", "label", "n_annotators"]
    assert len(frame) == 27 and frame["text"].str.len().gt(0).all()
    texts = dict(zip(frame["post_id"], frame["text"]))
    twice = {t["data"]["id"] for t in tasks[:5]}
    for pid, label, n in zip(frame["post_id"], frame["label"], frame["n_annotators"]):
        if pid in twice:  # 1-1 tie between annotators: the later annotation wins
            assert (n, label) == (2, "neutral")
        else:
            assert n == 1 and f"looks {label}" in texts[pid]
    meta = labels_provenance(frame, "label-studio")
    assert meta["labeled_posts"] == 27 and sum(meta["label_counts"].values()) == 27


def test_import_rejects_bad_files(store, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LabelStudioError, match="is not valid JSON"):
        import_labels(store, bad)
    bad.write_text(json.dumps([{"data": {"text": "x"}, "annotations": []}]))
    with pytest.raises(LabelStudioError, match="has no data.source/data.id"):
        read_annotations(bad)
    bad.write_text(json.dumps("hello"))
    with pytest.raises(LabelStudioError, match="expected a list of tasks"):
        read_annotations(bad)
    odd = annotate([{"data": {"source": "reddit", "id": "t1p0"}, "predictions": []}],
                   annotator=1, pick=lambda t: "moon")
    bad.write_text(json.dumps(odd))
    frame, n, skipped = read_annotations(bad)
    assert frame.empty and (n, skipped) == (1, 1)


def test_cli_import_labels(store, tmp_path):
    from crowdpulse.cli import app

    export(store, tmp_path / "tasks.json", fmt="labelstudio", least_confident=4)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    (tmp_path / "ls.json").write_text(json.dumps(annotate(tasks, annotator=3, pick=truth)))
    db = store.path
    store.close()
    res = CliRunner().invoke(app, ["import-labels", str(tmp_path / "ls.json"), "--db", db])
    assert res.exit_code == 0, res.output
    assert "imported 4 labels from 4 tasks: 4 new, 0 updated" in res.output


def _train_on_labels(store, tmp_path):
    train_mod = pytest.importorskip("models.train")
    export(store, tmp_path / "tasks.json", fmt="labelstudio")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    (tmp_path / "ls.json").write_text(json.dumps(annotate(tasks, annotator=1, pick=truth)))
    import_labels(store, tmp_path / "ls.json")
    frame = labeled_training_frame(store, origin="label-studio")
    eval_rows = frame.groupby("label").head(4)
    train_rows = frame.drop(eval_rows.index)
    out = tmp_path / "model"
    result = train_mod.train(train_rows[["text", "label"]], eval_rows[["text", "label"]], out, epochs=1,
                             batch_size=32, max_length=32, lora_r=4, threads=1, progress=False,
                             name="ls-roundtrip", extra_meta=labels_provenance(frame, "label-studio"))
    return frame, train_rows, result


@pytest.mark.slow
def test_retrain_on_imported_labels_records_them_in_the_model_card(store, tmp_path):
    frame, train_rows, result = _train_on_labels(store, tmp_path)
    card = json.loads(next(result.out_dir.glob("crowdpulse_model.json")).read_text())
    assert card["training"]["rows"] == len(train_rows)
    assert card["training"]["training_data"] == "crowdpulse labels table (origin=label-studio)"
    assert card["training"]["labeled_posts"] == len(frame) == 150
    assert card["training"]["label_counts"] == {k: int(v) for k, v in frame["label"].value_counts().sort_index().items()}
    assert 0.0 <= result.metrics["macro_f1"] <= 1.0


def test_annotations_that_are_not_objects_are_one_clear_error(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps([{"id": 7, "data": {"source": "reddit", "id": "a1"}, "annotations": "bullish"}]))
    with pytest.raises(LabelStudioError, match="task 7 .*'annotations' is not a list"):
        read_annotations(f)


def test_only_http_urls_reach_a_task(store, tmp_path):
    """Label Studio shows data.url as a link: a javascript: or data: URL stored with a post must not reach it."""
    from crowdpulse.labelstudio import tasks_from_frame

    rows = pd.DataFrame([{"source": "reddit", "id": str(i), "text": "t", "url": url, "model_id": MODEL,
                          "label": "neutral", "confidence": 0.5}
                         for i, url in enumerate(["https://www.reddit.com/r/stocks/comments/abc/", "http://x.org/a",
                                                  "javascript:alert(document.cookie)", " JavaScript:alert(1)",
                                                  "data:text/html;base64,PHNjcmlwdD4=", "vbscript:x", "//evil.org/a",
                                                  "/r/stocks/comments/abc/", None, float("nan"), "HTTPS://X.ORG/B"])])
    urls = [t["data"]["url"] for t in tasks_from_frame(rows)]
    assert urls == ["https://www.reddit.com/r/stocks/comments/abc/", "http://x.org/a", None, None, None, None, None,
                    None, None, None, "HTTPS://X.ORG/B"]
    store.con.execute("UPDATE posts SET url = 'javascript:alert(1)'")
    export(store, tmp_path / "tasks.json", fmt="labelstudio", least_confident=5)
    assert "javascript:" not in (tmp_path / "tasks.json").read_text()
