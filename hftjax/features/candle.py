"""Candle features shared by both feature sets (Qlib-style kmid ... ksft2).

Zero-range rule: on a flat candle (h = l) every numerator is 0 too (o = c = h = l), so the
normalised versions kmid2, kup2, klow2 and ksft2 are defined as 0 there instead of 0/0.
"""

from __future__ import annotations

import numpy as np

from hftjax.features.rolling import safe_divide

CANDLE_FEATURES = ("kmid", "klen", "kmid2", "kup", "kup2", "klow", "klow2", "ksft", "ksft2")


def candle_features(o: np.ndarray, h: np.ndarray, l: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
    klen = h - l
    kmid = c - o
    kup = h - np.maximum(o, c)
    klow = np.minimum(o, c) - l
    ksft = 2 * c - h - l
    return {
        "kmid": kmid, "klen": klen, "kmid2": safe_divide(kmid, klen),
        "kup": kup, "kup2": safe_divide(kup, klen),
        "klow": klow, "klow2": safe_divide(klow, klen),
        "ksft": ksft, "ksft2": safe_divide(ksft, klen),
    }
