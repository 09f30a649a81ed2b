"""Ridge regression of the forward return on a row's features, long/flat (the supervised
baseline of ``hftjax bench lab``).

- target at row t: the H-step forward log return log(close_{t+H} / close_t), defined for
  t + H < T (``forward_returns``); only those rows are fitted;
- fit: every column standardised with the fitted rows' mean and std (an std of 0 counts as 1),
  then the closed form w = (Z'Z + alpha I)^-1 Z'(y - mean(y)) with the intercept b = mean(y)
  left unpenalised (Z is centred, so that is the penalised least-squares optimum);
- prediction: Z w + b, with the fitted rows' mean and std applied to any rows;
- action at step t: the top level when the prediction of row t is > a threshold, else flat
  (``threshold_actions``). Row t's features use data up to t only (``hftjax.features``), so the
  action is decided before the price it is filled at moves.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hftjax.env.params import LEVELS
from hftjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Ridge:
    mean: np.ndarray      # (F,) of the fitted rows
    scale: np.ndarray     # (F,) their std, 1 where it is 0
    weights: np.ndarray   # (F,) on the standardised columns
    intercept: float


def forward_returns(close, horizon: int) -> np.ndarray:
    """(T - H,) log(close_{t+H} / close_t) for the rows t that have one."""
    close = np.asarray(close, np.float64)
    if horizon < 1 or horizon >= close.size:
        raise ConfigError("horizon", f"must be in [1, {close.size}) for {close.size} closes, got {horizon}")
    return np.log(close[horizon:] / close[:-horizon])


def fit_ridge(features, target, alpha: float) -> Ridge:
    """The ridge model of ``target`` (N,) on ``features`` (N, F) with penalty ``alpha`` > 0."""
    x, y = np.asarray(features, np.float64), np.asarray(target, np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] < 2:
        raise ConfigError("features", f"must be (N, F) with N >= 2 rows and a target of (N,), got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ConfigError("features", "and the target must be finite")
    if not alpha > 0:  # > 0 keeps the system solvable with a constant column
        raise ConfigError("alpha", f"must be > 0, got {alpha}")
    mean, std = x.mean(axis=0), x.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    z = (x - mean) / scale
    weights = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - y.mean()))
    return Ridge(mean, scale, weights, float(y.mean()))


def predict(model: Ridge, features) -> np.ndarray:
    """(N,) predictions for the rows of ``features`` (N, F)."""
    return (np.asarray(features, np.float64) - model.mean) / model.scale @ model.weights + model.intercept


def threshold_actions(predictions, threshold: float, *, levels: int = LEVELS) -> np.ndarray:
    """``levels - 1`` where the prediction is > ``threshold``, else 0 (int32)."""
    return np.where(np.asarray(predictions) > threshold, levels - 1, 0).astype(np.int32)
