"""Parameters of the synthetic market, with defaults calibrated to Binance ETH/BTC/DOT/LTC minutes.

Each field carries its explanation and its validity rule (``dataclasses.field`` metadata), so the
calibration document lists exactly these. The calibration (statistics of the real files next to
the synthetic default) is ``docs/synthetic_calibration.md``; ``data_prep/synth_calibration.py``
regenerates it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

from hftjax.data.table import MINUTE_MS
from hftjax.errors import ConfigError

START_2022_02_01 = 1_643_673_600_000  # UTC ms: start of the paper's ETH training split

POSITIVE = (lambda v, p: v > 0, "positive")
NON_NEGATIVE = (lambda v, p: v >= 0, "non-negative")
PERSISTENCE = (lambda v, p: 0 <= v < 1, "in [0, 1)")
ROWS = (lambda v, p: v >= 1, "at least 1 row")
ON_MINUTE_GRID = (lambda v, p: float(v).is_integer() and v % MINUTE_MS == 0,
                  "a UTC ms timestamp on the minute grid")


def _param(default: float, doc: str, rule: tuple = POSITIVE):
    return dataclasses.field(default=default, metadata={"doc": doc, "rule": rule})


@dataclasses.dataclass(frozen=True)
class SynthParams:
    """All knobs of :func:`hftjax.synth.generate`. Rates and durations are per 1-minute row."""

    # time and price grid
    start: int = _param(START_2022_02_01, "UTC ms timestamp of the first bar (2022-02-01 00:00)", ON_MINUTE_GRID)
    tick: float = _param(0.01, "price grid of every OHLC and book price (USDT)")
    start_price: float = _param(2000.0, "first open, ETH-like (USDT)",
                                (lambda v, p: v >= 100 * p.tick, "at least 100 ticks"))
    # regimes: two independent Markov chains with geometric spells
    trend_duration: float = _param(4320.0, "mean length of a bear / flat / bull spell (rows; 3 days)", ROWS)
    calm_duration: float = _param(7200.0, "mean length of a calm spell (rows; 5 days)", ROWS)
    volatile_duration: float = _param(2880.0, "mean length of a volatile spell (rows; 2 days)", ROWS)
    drift: float = _param(1.5e-5, "log-return drift per minute: +drift in bull, -drift in bear, 0 in flat",
                          (lambda v, p: abs(v) < 0.01, "below 0.01 in absolute value"))
    price_reversion: float = _param(1 / 129_600, "per-minute pull of log price back to log start_price "
                                    "(1/90 days; keeps the level ETH-like over years; 0 = pure random walk)",
                                    PERSISTENCE)
    # returns r = drift + sigma_t * z_t with z standardised Student-t, and sigma_t's two AR(1) factors
    sigma_calm: float = _param(7.5e-4, "RMS minute log-return of a settled calm regime",
                               (lambda v, p: 0 < v < 0.1, "in (0, 0.1)"))
    vol_ratio: float = _param(4.0, "RMS return of a settled volatile regime over a calm one",
                              (lambda v, p: v >= 1, "at least 1"))
    tail_df: float = _param(5.0, "Student-t degrees of freedom of z (fat tails)",
                            (lambda v, p: v > 2, "above 2 (finite variance)"))
    sv_fast_phi: float = _param(0.96, "per-minute persistence of the fast log-vol factor (life ~25 min)",
                                PERSISTENCE)
    sv_fast_std: float = _param(0.6, "stationary std of the fast log-vol factor", NON_NEGATIVE)
    sv_slow_phi: float = _param(0.9995, "per-minute persistence of the slow log-vol factor, which also "
                                "carries the regime level (life ~1.4 days)", PERSISTENCE)
    sv_slow_std: float = _param(0.45, "stationary std of the slow log-vol factor around the regime level",
                                NON_NEGATIVE)
    # traded volume (base asset) = scale * (sigma_t / sigma_calm)**beta * (1 + |z_t|)**shock * noise
    volume_scale: float = _param(150.0, "volume of a calm minute without price move or noise (coins, ETH-like)")
    volume_beta: float = _param(1.0, "elasticity of volume to sigma_t", NON_NEGATIVE)
    volume_shock: float = _param(0.8, "elasticity of volume to 1 + |z_t| (big moves trade more)", NON_NEGATIVE)
    volume_noise: float = _param(0.7, "std of the log-normal volume noise", NON_NEGATIVE)
    # 5-level book at each bar's close; s = sigma_t / sigma_calm widens it and thins it
    spread_excess: float = _param(1.0, "mean spread ticks above 1 at s = 1 (geometric, scaled by s)", NON_NEGATIVE)
    gap_excess: float = _param(0.5, "mean ticks above 1 between adjacent levels at s = 1 (geometric, scaled by s)",
                               NON_NEGATIVE)
    depth_median: float = _param(20.0, "median level-1 size at s = 1 (coins)")
    depth_growth: float = _param(1.3, "size multiplier from one level to the next deeper one")
    depth_beta: float = _param(1.0, "depth scales as s**-depth_beta", NON_NEGATIVE)
    depth_noise: float = _param(0.5, "std of the log-normal size noise of each level", NON_NEGATIVE)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            ok, rule = field.metadata["rule"]
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
                    or not ok(value, self):
                raise ConfigError(field.name, f"must be {rule}, got {value!r}")
