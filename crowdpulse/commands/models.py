"""``crowdpulse models``: list, eval and train sentiment models."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from crowdpulse.commands.common import DEFAULT_DB_PATH, DbOption, ModelOption, console
from crowdpulse.errors import CrowdpulseError

#: Where ``models list`` looks for saved folders unless --dir says otherwise.
DEFAULT_MODELS_DIR = Path(os.environ.get("CROWDPULSE_MODELS_DIR", "crowdpulse-models"))

LabelMapOption = Annotated[Optional[str], typer.Option(
    "--label-map", help="The data file's raw labels -> bullish/bearish/neutral, e.g. '0=bearish,1=bullish,2=neutral' "
    "(needed for integer labels, except the known Twitter Financial News files).")]
ModelLabelMapOption = Annotated[Optional[str], typer.Option(
    "--model-label-map", help="For a Hugging Face model whose labels are only LABEL_0, LABEL_1, ..: "
    "which is which, e.g. '0=bearish,1=bullish,2=neutral'.")]
TextColOption = Annotated[str, typer.Option("--text-col", help="Text column of the data file.")]
LabelColOption = Annotated[str, typer.Option("--label-col", help="Label column of the data file.")]
BackendOption = Annotated[str, typer.Option("--backend", help="auto, torch or onnx (ONNX Runtime int8).")]

models_app = typer.Typer(help="List, evaluate and train the sentiment models.", no_args_is_help=True)


@models_app.command("list")
def list_command(
    dir_: Annotated[Path, typer.Option("--dir", help="Folder whose sub-folders are saved models.")] = DEFAULT_MODELS_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the model specs available: default, vader, tfidf and saved folders under --dir, with model_id.

    Example: crowdpulse models list --dir crowdpulse-models
    """
    from models.catalog import available_models

    rows = available_models(dir_)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("spec", "model_id", "kind", "description")
    for r in rows:
        table.add_row(r["spec"], r["model_id"] or "-", r["kind"], r["description"])
    console.print(table)


@models_app.command("eval")
def eval_command(
    data: Annotated[Path, typer.Option("--data", help="Labeled CSV/JSONL/Parquet (text,label) or PhraseBank .txt.")],
    model: ModelOption = "default",
    label_map: LabelMapOption = None,
    model_label_map: ModelLabelMapOption = None,
    text_col: TextColOption = "text",
    label_col: LabelColOption = "label",
    backend: BackendOption = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Texts per forward pass.")] = 64,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Evaluate only the first N rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Evaluate a model on labeled data: accuracy, macro-F1, per-class precision/recall, confusion, ECE.

    On bullish/bearish-only data the model is judged on bullish vs bearish (p renormalised).

    Example: crowdpulse models eval --model tfidf --data ../shared/data/twitter_fin_news/sent_valid.csv
    """
    from models import load_model
    from models.data import read_labeled
    from models.metrics import evaluate_model

    frame = read_labeled(data, text_col=text_col, label_col=label_col, label_map=label_map)
    if limit is not None:
        if limit < 1:
            raise CrowdpulseError(f"--limit must be at least 1, got {limit}")
        frame = frame.head(limit)
    scorer = load_model(model, batch_size=batch_size, backend=backend, label_map=model_label_map)
    result = evaluate_model(scorer, frame, name=str(data), batch_progress=not as_json)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console.print(result.summary(), markup=False, highlight=False)


@models_app.command("train")
def train_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the trained model to.")],
    data: Annotated[Optional[Path], typer.Option("--data", help="Labeled training file (CSV/JSONL/Parquet/PhraseBank .txt).")] = None,
    eval_: Annotated[Optional[Path], typer.Option("--eval", help="Labeled file for early stopping and temperature; default: 10% of each label's training rows (at least one), so each label needs 2 rows.")] = None,
    from_db: Annotated[bool, typer.Option("--from-db", help="Train on the human labels in the database (crowdpulse import-labels).")] = False,
    db: DbOption = DEFAULT_DB_PATH,
    label_map: LabelMapOption = None,
    text_col: TextColOption = "text",
    label_col: LabelColOption = "label",
    base: Annotated[str, typer.Option("--base", help="Base encoder to fine-tune.")] = "minilm",
    epochs: Annotated[int, typer.Option("--epochs", help="Maximum epochs (early stopping may end sooner).")] = 4,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 4e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Training batch size.")] = 32,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 13,
    pooling: Annotated[str, typer.Option("--pooling", help="Classifier input: mean of the token states (BERT-family bases) or cls.")] = "mean",
) -> None:
    """Fine-tune a model on labeled data and save it as a folder usable as --model DIR.

    Example: crowdpulse models train --data train.csv --eval valid.csv --out crowdpulse-models/mine

    Example: crowdpulse models train --from-db --out crowdpulse-models/from-labels
    """
    from models.data import read_labeled
    from models.train import train

    extra: dict = {}
    if from_db == (data is not None):
        raise CrowdpulseError("give exactly one of --data FILE or --from-db")
    _check_out_folder(out)
    if from_db:
        from crowdpulse.commands.common import open_store
        from crowdpulse.export import labeled_training_frame, labels_provenance

        with open_store(db, read_only=True) as store:
            frame = labeled_training_frame(store)
        if frame.empty:
            raise CrowdpulseError(f"the database {db} has no human labels; import some with crowdpulse import-labels")
        extra = labels_provenance(frame)
        frame = frame[["text", "label"]].reset_index(drop=True)
    else:
        frame = read_labeled(data, text_col=text_col, label_col=label_col, label_map=label_map)
        extra = {"training_data": str(data)}
    if eval_ is not None:
        held = read_labeled(eval_, text_col=text_col, label_col=label_col, label_map=label_map)
        extra["eval_data"] = str(eval_)
    else:
        frame, held = _stratified_split(frame, 0.1, seed)
        extra["eval_data"] = f"10% of each label's training rows, at least one (seed {seed})"
    result = train(frame, held, out, base=base, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                   pooling=pooling, extra_meta=extra)
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if isinstance(v, (int, float)))
    console.print(f"saved {result.out_dir} (best epoch {result.best_epoch}, T={result.temperature:.3f}, "
                  f"{result.seconds:.0f} s): {metrics}")
    console.print(f"use it with: --model {result.out_dir}")


def _check_out_folder(out: Path) -> None:
    """Refuse an --out that is a file, or a folder holding files other than a model's (nothing of the user's is overwritten)."""
    from models.finetuned import META_FILE

    if out.is_file():
        raise CrowdpulseError(f"--out {out} is a file; give a folder for the model")
    if out.is_dir() and any(out.iterdir()) and not (out / META_FILE).is_file():
        raise CrowdpulseError(f"--out {out} is a folder with other files in it; give a new or empty folder "
                              "(or a model folder to retrain)")


#: Labels a class needs when the eval split is held out of the training rows: one to train on, one to hold out.
MIN_PER_CLASS = 2


def _stratified_split(frame, fraction: float, seed: int):
    """(train, eval): ``fraction`` of each label's rows held out (at least one), so both sides hold
    every label the data has, for any row count; too few labels is one line saying how many are needed."""
    import numpy as np

    from models.labels import LABELS

    counts = frame["label"].value_counts()
    have = ", ".join(f"{label} {int(counts.get(label, 0))}" for label in LABELS)
    if (counts < MIN_PER_CLASS).any() or len(counts) < 2:
        raise CrowdpulseError(
            f"too few labels to train and hold out an eval split: need at least {MIN_PER_CLASS} labels for each of "
            f"at least two classes, have {have}; label more, or pass --eval FILE to evaluate on other rows")
    rng = np.random.default_rng(seed)
    held = np.concatenate([rng.choice(rows, size=max(1, round(fraction * len(rows))), replace=False)
                           for _, rows in sorted(frame.groupby("label").indices.items())])
    is_held = np.zeros(len(frame), dtype=bool)
    is_held[held] = True
    return frame[~is_held].reset_index(drop=True), frame[is_held].reset_index(drop=True)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
