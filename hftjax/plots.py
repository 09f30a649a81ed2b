"""The report's plots (matplotlib, files only): equity and drawdown of every strategy with a
band over seeds, MacroHFT's trades over price for every seed, the hyper-agent's mixing weights and
the per-regime bars, with UTC dates on every time axis and legends outside the data.

MacroHFT is drawn thick in a colour no other strategy has, buy and hold is the black reference
line, a bound (the oracle sub-agent) dashed grey, and every other strategy a (colour, dash) pair of
its own. Curves are downsampled for drawing only (a drawdown keeps each bucket's deepest point),
so a year of minutes stays readable; the metrics never see it.
"""

from __future__ import annotations

import matplotlib
import numpy as np

from hftjax.strategies import REGISTRY, strategies

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

MACROHFT_COLOUR = "#c0392b"  # reserved: no other strategy is drawn in it
# every other strategy in REGISTRY order: a colour and a dash pattern, so that none repeats
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#393b79",
           "#637939")
DASHES = ("-", "--", "-.", ":")
MAX_POINTS = 4000  # drawn per curve: a year of minutes is downsampled for drawing, never for metrics
MAX_MARKERS = 300  # trades per seed above which the whole-split view shows positions without markers
WINDOW = 1440  # minutes of the close-up positions view (one day)


def style(key: str, kind: str, index: int) -> dict:
    """Line style of a strategy: MacroHFT thick in its reserved colour, buy and hold the black
    reference line, a bound dashed grey, the rest a distinct (colour, dash) pair each."""
    if kind == "macrohft":
        return {"color": MACROHFT_COLOUR, "lw": 2.4, "ls": "-", "zorder": 5}
    if key == "buy_and_hold":
        return {"color": "black", "lw": 1.4, "ls": "-", "zorder": 4}
    if kind == "bound":
        return {"color": "grey", "lw": 1.0, "ls": "--", "zorder": 2}
    return {"color": PALETTE[index % len(PALETTE)], "lw": 1.0, "ls": DASHES[index // len(PALETTE) % len(DASHES)],
            "zorder": 3}


def styles(rows) -> dict[str, dict]:
    """{key: style} for the report's (key, label) rows, others numbered in order."""
    kinds = {s.key: s.kind for s in REGISTRY}
    out, others = {}, 0
    for key, _ in rows:
        out[key] = style(key, kinds[key], others)
        others += kinds[key] != "macrohft" and key != "buy_and_hold" and kinds[key] != "bound"
    return out


def drawn(n: int) -> np.ndarray:
    """The indices of ``n`` points that are drawn: every k-th, and the last."""
    return np.unique(np.append(np.arange(0, n, max(1, -(-n // MAX_POINTS))), n - 1))


def bucket_min(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Minimum of ``values`` (..., n) over each bucket [at_i, at_{i+1}): a drawdown's deepest
    point survives downsampling."""
    return np.minimum.reduceat(values, at, axis=-1)


def wealth(returns) -> np.ndarray:
    """(runs, T) equity over the money put up, from per-step returns (runs, T-1): 1 at the start,
    1 + TR at the end."""
    returns = np.asarray(returns, np.float64)
    return np.concatenate([np.ones((returns.shape[0], 1)), np.cumprod(1 + returns, axis=1)], axis=1)


def date_axis(ax) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")


def legend_outside(ax, **kwargs) -> None:
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, **kwargs)


def _curves(ax, times, curves: dict, rows, seeded: set, deepest: bool) -> None:
    """One line per strategy (mean over seeds) and a min-max band over seeds for the ``seeded`` ones;
    ``curves`` {key: (runs, T)}; ``deepest`` keeps each drawn bucket's minimum."""
    at = drawn(len(times))
    line_styles = styles(rows)
    for key, label in rows:
        values = 100 * curves[key]
        values = bucket_min(values, at) if deepest else values[:, at]
        ax.plot(times[at], values.mean(0), label=label, **line_styles[key])
        if key in seeded and len(values) > 1:
            ax.fill_between(times[at], values.min(0), values.max(0), color=line_styles[key]["color"], alpha=0.15,
                            lw=0, zorder=1, label=f"{label}: seeds min-max" if key == "macrohft" else None)
    ax.axhline(0, color="black", lw=0.5)
    date_axis(ax)
    legend_outside(ax)


def _equity(times, equity, rows, seeded):
    figure, ax = plt.subplots(figsize=(12, 4.5))
    _curves(ax, times, {k: w - 1 for k, w in equity.items()}, rows, seeded, deepest=False)
    ax.set(ylabel="return on required money, %")
    ax.set_title("Equity: return on the money each run put up (ends at the table's TR); mean over seeds", loc="left")
    figure.tight_layout()
    return figure


def _drawdown(times, equity, rows, seeded):
    figure, ax = plt.subplots(figsize=(12, 4))
    _curves(ax, times, {k: w / np.maximum.accumulate(w, axis=1) - 1 for k, w in equity.items()}, rows, seeded,
            deepest=True)
    ax.set(ylabel="drawdown, % of peak equity")
    ax.set_title("Drawdown from each run's peak equity (its lowest point is the table's MDD); mean over seeds",
                 loc="left")
    figure.tight_layout()
    return figure


def _positions(times, close, actions, seeds, levels: int):
    """Price with every seed's entries and exits, and every seed's position, over the first day
    and over the whole split."""
    figure, axes = plt.subplots(2, 2, figsize=(14, 7), sharex="col", gridspec_kw={"height_ratios": [2, 1]})
    held = np.asarray(actions, np.float64) / (levels - 1)  # (S, T-1) fraction of the top level
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(seeds))]
    for column, end in enumerate((min(WINDOW, held.shape[1]), held.shape[1])):
        top, bottom = axes[0, column], axes[1, column]
        at = drawn(end + 1)
        top.plot(times[at], close[at], color="black", lw=0.8, label="close")
        for i, seed in enumerate(seeds):
            change = np.diff(np.concatenate([[0.0], held[i, :end]]))  # started flat
            markers = np.count_nonzero(change) <= MAX_MARKERS or column == 0
            for sign, marker, fill, what in ((1, "^", colours[i], "entry (up)"), (-1, "v", "none", "exit (down)")):
                rows = np.flatnonzero(np.sign(change) == sign)
                if markers and len(rows):
                    top.scatter(times[rows], close[rows], marker=marker, s=28, facecolors=fill,
                                edgecolors=colours[i], linewidths=1.0, zorder=4, label=f"seed {seed} {what}")
            steps = at[at < end]
            bottom.step(times[steps], held[i, steps] + 1.25 * i, where="post", color=colours[i], lw=0.9)
        bottom.set_yticks([1.25 * i + 0.5 for i in range(len(seeds))], [f"seed {s}" for s in seeds])
        bottom.set_ylim(-0.2, 1.25 * len(seeds))
        title = f"first {end} minutes" if column == 0 else "whole split"
        top.set(title=f"MacroHFT's trades over price: {title}", ylabel="close")
        bottom.set(ylabel="position (0 to top level)")
        date_axis(bottom)
        if column == 1:
            legend_outside(top, ncol=1 + len(seeds) // 6)
    figure.tight_layout()
    return figure


def _weights(times, weights, members):
    figure, ax = plt.subplots(figsize=(12, 3.5))
    weights = np.asarray(weights)
    at = drawn(len(weights))
    ax.stackplot(times[at], weights[at].T, labels=members, colors=PALETTE[: len(members)])
    ax.set(ylabel="weight", ylim=(0, 1), title="Hyper-agent mixing weights (seed 0)")
    date_axis(ax)
    legend_outside(ax)
    figure.tight_layout()
    return figure


def _regimes(regimes: dict, rows):
    figure, ax = plt.subplots(figsize=(12, 4.5))
    names = list(next(iter(regimes.values())))
    width = 0.8 / len(rows)
    line_styles = styles(rows)
    for i, (key, label) in enumerate(rows):
        colour = line_styles[key]["color"]
        ax.bar(np.arange(len(names)) + i * width, [100 * (regimes[key][n] or 0.0) for n in names], width, label=label,
               color=colour, hatch="//" if line_styles[key]["ls"] != "-" else None, edgecolor="white", lw=0.3)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.set(ylabel="mean chunk P&L, % of notional", title="By regime (chunks labelled by trend and volatility)")
    ax.axhline(0, color="black", lw=0.5)
    legend_outside(ax)
    figure.tight_layout()
    return figure


def figures(metrics: dict, series: dict, returns: dict, times, close, regimes: dict, weights, members, levels: int):
    """{name: matplotlib Figure} of the report's plots (see ``write_report``)."""
    rows = strategies(metrics)
    kinds = {s.key: s.kind for s in REGISTRY}  # a band for MacroHFT and the learned baselines
    seeded = {key for key, _ in rows if "per_seed" in metrics[key] and kinds[key] in ("macrohft", "learned")}
    seeds = [s["seed"] for s in metrics["macrohft"]["per_seed"]]
    equity = {key: wealth(returns[key]) for key, _ in rows}  # shared by the equity and drawdown plots
    return {"equity": _equity(times, equity, rows, seeded), "drawdown": _drawdown(times, equity, rows, seeded),
            "positions": _positions(times, close, series["macrohft"][0], seeds, levels),
            "weights": _weights(times[:-1], weights, members), "regimes": _regimes(regimes, rows)}
