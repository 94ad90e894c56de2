"""ONNX Runtime path: export a sequence classifier once, quantize it to int8, run it on CPU.

The exported files are cached under ``$CROWDPULSE_CACHE`` (default ``~/.cache/crowdpulse``)
``/onnx/<model_id>/``, so only the first load of a model pays for the export (a few seconds).
Each retrained model gets a new id, so after every new export the cache keeps only the
``$CROWDPULSE_ONNX_KEEP`` (default 4) most recently used models and deletes the rest.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from models.errors import ModelError
from models.transformer import default_threads

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where exported ONNX models live."""
    return Path(os.environ.get("CROWDPULSE_CACHE", Path.home() / ".cache" / "crowdpulse")) / "onnx"


def session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session with the project's options."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or default_threads()
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = False  # the arena keeps a block per distinct (batch, length) shape: GBs
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def feed(sess: Any, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs ``sess`` takes (BERT exports also take token_type_ids, all zeros)."""
    out = {"input_ids": input_ids, "attention_mask": attention_mask}
    if "token_type_ids" in {i.name for i in sess.get_inputs()}:
        out["token_type_ids"] = np.zeros_like(input_ids)
    return out


def run_rows(sess: Any, output: str, input_ids: np.ndarray, attention_mask: np.ndarray,
             pool: ThreadPoolExecutor | None = None) -> list[np.ndarray]:
    """``output`` for each row alone, cut to its own (right-padded) length, in row order.

    Dynamic int8 quantization picks each activation's scale from the whole tensor of one call,
    so rows scored together change each other's results (by up to 0.25 in probability on Reddit
    comments). One row per call makes a text's score independent of what it is scored with.
    With ``pool``, rows run concurrently on its threads (ONNX Runtime sessions take concurrent
    calls); each row is still computed alone, so the results are the same bit for bit.
    """
    def one(i: int) -> np.ndarray:
        n = max(int(attention_mask[i].sum()), 1)
        return sess.run([output], feed(sess, input_ids[i][None, :n], attention_mask[i][None, :n]))[0][0]

    rows = range(len(input_ids))
    if pool is None or len(input_ids) < 2:
        return [one(i) for i in rows]
    return list(pool.map(one, rows))


class RowRunner:
    """One single-threaded ONNX Runtime session run by ``threads`` workers, one row per call.

    On two cores, one row at a time with two intra-op threads ran 62.5-98.2 rows/s (600 r/stocks
    comments through the default, three runs); two rows at once on single-threaded calls ran
    121.7-131.1 rows/s, with identical outputs (``bench/onnx_row_threads.py``)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = path
        self.threads = threads or default_threads()
        self.session = session(path, 1)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-row") if self.threads > 1 else None

    def __call__(self, output: str, input_ids: np.ndarray, attention_mask: np.ndarray) -> list[np.ndarray]:
        return run_rows(self.session, output, input_ids, attention_mask, self._pool)


class OnnxClassifier:
    """``__call__(input_ids, attention_mask) -> logits`` over an ONNX Runtime session, one row per call
    (:class:`RowRunner`)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = path
        self.runner = RowRunner(path, threads)

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return np.stack(self.runner("logits", input_ids, attention_mask))


def export_onnx(model: Any, path: Path, *, output: str = "logits", opset: int = 17) -> Path:
    """Export a ``transformers`` model to ONNX (fp32) with dynamic batch and length.

    ``output`` names the model output to export: ``logits`` (sequence classifiers) or
    ``last_hidden_state`` (encoders).
    """
    import torch

    class _Wrapped(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):  # noqa: D401 - torch signature
            return getattr(self.inner(input_ids=input_ids, attention_mask=attention_mask), output)

    path.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    model = model.to("cpu").eval()
    out_axes = {0: "batch"} if output == "logits" else {0: "batch", 1: "seq"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about shape checks that are constant for encoders
        torch.onnx.export(
            _Wrapped(model), (ids, mask), str(path), dynamo=False, opset_version=opset,
            input_names=["input_ids", "attention_mask"], output_names=[output],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          output: out_axes},
        )
    return path


def quantize_int8(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantization (per-channel weights) with onnxruntime.quantization.quantize_dynamic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic warns on the root logger about optional pre-processing
    try:
        # per-channel weights: on the shipped default, per-tensor int8 lost 0.7 points of accuracy on
        # PhraseBank AllAgree, per-channel 0.2 points on sent_valid and none on PhraseBank (docs/models.md)
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return dst


def keep_count() -> int:
    """How many exported models the cache keeps (``$CROWDPULSE_ONNX_KEEP``, default 4, at least 1)."""
    raw = os.environ.get("CROWDPULSE_ONNX_KEEP", "4")
    try:
        return max(1, int(raw))
    except ValueError:
        raise ModelError(f"CROWDPULSE_ONNX_KEEP must be a whole number, got {raw!r}") from None


def prune_cache(root: Path, keep: int, current: Path) -> list[Path]:
    """Delete all but the ``keep`` most recently used model folders under ``root`` (never
    ``current``); a folder's use time is its newest file's modification time. Returns what went."""
    folders = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []

    def used(p: Path) -> float:
        return max((f.stat().st_mtime for f in p.iterdir() if f.is_file()), default=p.stat().st_mtime)

    ranked = sorted((p for p in folders if p != current), key=used, reverse=True)
    gone = ranked[max(keep - 1, 0):]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
        logger.info("removed ONNX export %s (the cache keeps the %d most recently used)", p, keep)
    return gone


def _touch(path: Path) -> None:
    try:
        os.utime(path, (time.time(), time.time()))
    except OSError:  # read-only cache: use times just stop updating
        pass


def export_cached(load: Callable[[], Any], folder: Path, target: str, *, output: str = "logits",
                  quantize: bool = True, keep_fp32: bool = True) -> Path:
    """``folder/target``: on first use the model ``load()`` returns is exported to ONNX
    (``folder/model.onnx``) and, with ``quantize``, quantized to int8 into ``target``. Files are
    written under temporary names and renamed, so a crash never leaves a half-written model."""
    path = folder / target
    if path.exists():
        _touch(path)
        return path
    fp32 = folder / "model.onnx"
    tmp = folder / f"model.{os.getpid()}.tmp.onnx"
    export_onnx(load(), tmp, output=output)
    tmp.replace(fp32)
    if quantize:
        tmpq = folder / f"model.{os.getpid()}.tmp.int8.onnx"
        quantize_int8(fp32, tmpq)
        tmpq.replace(path)
        if not keep_fp32:
            fp32.unlink(missing_ok=True)
    logger.info("exported ONNX model %s", path)
    prune_cache(folder.parent, keep_count(), folder)
    return path


def onnx_classifier(model: Any, tokenizer: Any, model_id: str, *, quantize: bool = True) -> OnnxClassifier:
    """An ONNX Runtime classifier for ``model`` (exported and quantized on first use, then cached).

    Raises:
        ModelError: the export or the session failed (the caller may fall back to torch).
    """
    folder = cache_dir() / model_id.replace("/", "__")
    target = "model.int8pc.onnx" if quantize else "model.onnx"
    try:
        if not (folder / target).exists():
            logger.info("exporting %s to ONNX in %s", model_id, folder)
        return OnnxClassifier(export_cached(lambda: model, folder, target, quantize=quantize))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - exporter/runtime raise many types; report one line
        raise ModelError(f"ONNX export of {model_id} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
