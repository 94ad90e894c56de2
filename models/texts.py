"""What every scorer reads: a list of strings, whatever a caller passes."""
from __future__ import annotations

import math
from typing import Any, Sequence


def as_texts(texts: Sequence[Any] | str) -> list[str]:
    """``texts`` as a list of strings: one string is one text; None and NaN (a DataFrame's empty
    cell) are the empty text, not the word "nan"."""
    if isinstance(texts, str):
        texts = [texts]
    return ["" if t is None or (isinstance(t, float) and math.isnan(t)) else str(t) for t in texts]
