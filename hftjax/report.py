"""The evaluation report of a split: ``report.md`` (a Table-1-style table, mean ± std over
seeds, and a per-regime breakdown) and PNG plots (equity, drawdown, positions over price, the
hyper-agent's mixing weights, per-regime bars), written beside ``metrics.json``.

Every number in the tables is read from the metrics dict ``evaluate`` writes, so the report and
``metrics.json`` cannot disagree; the per-regime table is computed here from the per-step rewards.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from hftjax.io import atomic_path, write_text
from hftjax.strategies import strategies

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

# (metric, header, scale, decimals)
COLUMNS = (("TR", "TR %", 100, 2), ("ASR", "ASR", 1, 2), ("MDD", "MDD %", 100, 2), ("ACR", "ACR", 1, 2),
           ("ASoR", "ASoR", 1, 2), ("AVOL", "AVOL", 1, 2), ("trades", "trades", 1, 0),
           ("exposure", "exposure %", 100, 1), ("fees_paid", "fees paid", 1, 2))
WINDOW = 1440  # rows of the close-up positions plot (one day of minutes)


def cell(entry: dict, metric: str, scale: float, decimals: int) -> str:
    """``mean ± std`` over seeds for a seeded strategy, the value for a deterministic one."""
    if "per_seed" in entry:
        values = np.array([s[metric] for s in entry["per_seed"]], np.float64) * scale
        text = f"{values.mean():.{decimals}f}"
        return text + (f" ± {values.std():.{decimals}f}" if len(values) > 1 else "")
    return f"{entry[metric] * scale:.{decimals}f}"


def chunk_returns(rewards: np.ndarray, close: np.ndarray, chunk_len: int, chunks: list[int], max_holding: float) -> float:
    """Mean over ``chunks`` and seeds of a chunk's P&L per notional: the summed rewards of its
    steps over max_holding x its first close (None without chunks). ``rewards`` (S, T-1)."""
    chunks = [i for i in chunks if i * chunk_len < rewards.shape[1]]
    if not chunks:
        return None
    return float(np.mean([rewards[:, i * chunk_len:(i + 1) * chunk_len].sum(1) / (max_holding * close[i * chunk_len])
                          for i in chunks]))


def regime_table(series: dict, close, labels: dict, max_holding: float) -> tuple[dict, dict]:
    """({strategy key: {"slope 1": mean chunk return, ...}}, {regime: chunks}) from per-step rewards."""
    regimes = {f"{ind} {k}": labels[ind]["chunks"][str(k)] for ind in ("slope", "vol") for k in (1, 2, 3)}
    table = {key: {regime: chunk_returns(series[key][1], close, labels["chunk_len"], chunks, max_holding)
                   for regime, chunks in regimes.items()} for key in series}
    return table, {k: len(v) for k, v in regimes.items()}


def write_report(out: Path, split: str, metrics: dict, series: dict, close, labels: dict, weights,
                 members: tuple[str, ...]) -> Path:
    """Write the report and its plots under ``out``; returns the report's path.

    ``series``: {row label: (actions (S, T-1), rewards (S, T-1))}; ``weights`` (T-1, M): the
    hyper-agent's mixing weights over ``members`` along its first seed's run."""
    close = np.asarray(close, np.float64)
    name = "report.md" if split == "test" else f"report_{split}.md"
    plots = out / "plots"
    regimes, counts = regime_table(series, close, labels, metrics["max_holding"])
    rows = strategies(metrics)
    figures = {"equity": _equity(series, close, metrics, rows), "drawdown": _drawdown(series, close, metrics, rows),
               "positions": _positions(series, close), "weights": _weights(weights, members), "regimes": _regimes(regimes, rows)}
    for figure_name, figure in figures.items():
        with atomic_path(plots / f"{split}_{figure_name}.png") as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        plt.close(figure)
    lines = [f"# MacroHFT evaluation: {split} split", "",
             f"{metrics['rows']:,} rows; fee {metrics['fee']:g}; max_holding {metrics['max_holding']:g} coins; "
             f"seeds {[s['seed'] for s in metrics['macrohft']['per_seed']]}; "
             f"hyper-agent best epochs {metrics['hyper_best_epoch']}.", "",
             "## Results", "", "Mean ± std over seeds; buy and hold and MACD are deterministic. "
             "The best single sub-agent is chosen on the validation split; the oracle one is chosen on this "
             "split and is an upper bound, not a result.", "",
             "| strategy | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for key, label in strategies(metrics):
        lines.append(f"| {label} | " + " | ".join(cell(metrics[key], metric, scale, decimals)
                                                 for metric, _, scale, decimals in COLUMNS) + " |")
    lines += ["", "## By regime", "", "Mean P&L per notional (%) of the chunks with each trend (slope) and "
              "volatility (vol) label, labelled with the training split's edges; chunks per label: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".", "",
              "| strategy | " + " | ".join(counts) + " |", "|---" * (len(counts) + 1) + "|"]
    for key, label in strategies(metrics):
        lines.append(f"| {label} | " + " | ".join("–" if v is None else f"{100 * v:.3f}" for v in regimes[key].values())
                     + " |")
    lines += ["", *diagnostics_lines(metrics)]
    lines += ["", "## Plots", ""] + [f"![{n}](plots/{split}_{n}.png)" for n in figures]
    path = out / name
    write_text("\n".join(lines) + "\n", path)
    return path


def diagnostics_lines(metrics: dict) -> list[str]:
    """The timing test and the leverage diagnostics (``hftjax.diagnostics``), one row per seed."""
    per_seed = metrics.get("diagnostics", {}).get("per_seed", [])
    if not per_seed:
        return []
    agents = [k.removeprefix("long_from_flat_") for k in per_seed[0] if k.startswith("long_from_flat_")]
    lines = ["## Timing and leverage", "",
             "Timing percentile: MacroHFT's ASR among the ASRs of its own positions circularly shifted in time "
             "(same exposure and trades, random timing): 100 is perfect timing, about 50 none. Differs from the "
             "equal mix: share of MacroHFT's steps where the equal-weight mix of the sub-agents would act "
             "otherwise in the same state. Agents agree: share of its steps where all sub-agents' greedy "
             "actions agree. Entropy of the mixing weights in nats (uniform over six: 1.79; over eight, with the "
             "constant experts: 2.08). Long from flat / stay long: each sub-agent's rate over every row of the split.", "",
             "| seed | timing percentile | differs from equal mix % | agents agree % | weight entropy | "
             + " | ".join(f"{a} long from flat / stay long %" for a in agents) + " |",
             "|---" * (5 + len(agents)) + "|"]
    for d in per_seed:
        lines.append(f"| {d['seed']} | {d['timing_percentile']:.1f} | {100 * d['differs_from_equal_mix']:.2f} | "
                     f"{100 * d['subagents_agree']:.1f} | {d['weight_entropy']:.3f} | "
                     + " | ".join(f"{100 * d[f'long_from_flat_{a}']:.1f} / {100 * d[f'long_from_long_{a}']:.1f}"
                                  for a in agents) + " |")
    return lines


def _equity_curves(series: dict, close, metrics: dict, rows) -> dict:
    """{row label: (T,) seed-mean P&L as a fraction of the notional max_holding x close[0]}."""
    notional = metrics["max_holding"] * close[0]
    return {label: np.concatenate([[0.0], np.cumsum(series[key][1].mean(0))]) / notional for key, label in rows}


def _equity(series, close, metrics, rows):
    figure, ax = plt.subplots(figsize=(10, 4))
    for label, curve in _equity_curves(series, close, metrics, rows).items():
        ax.plot(100 * curve, label=label, lw=1)
    ax.set(xlabel="step (minutes)", ylabel="P&L, % of notional", title="Equity (mean over seeds)")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _drawdown(series, close, metrics, rows):
    figure, ax = plt.subplots(figsize=(10, 3))
    for label, curve in _equity_curves(series, close, metrics, rows).items():
        ax.plot(100 * (curve - np.maximum.accumulate(curve)), label=label, lw=1)
    ax.set(xlabel="step (minutes)", ylabel="drawdown, % of notional", title="Drawdown from the running peak")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _positions(series, close):
    figure, axes = plt.subplots(2, 1, figsize=(10, 6))
    actions = series["macrohft"][0][0]
    for ax, end, title in ((axes[0], min(WINDOW, actions.size), f"first {min(WINDOW, actions.size)} steps"),
                           (axes[1], actions.size, "whole split")):
        ax.plot(close[:end], color="black", lw=0.8, label="close")
        held = actions[:end] > 0
        ax.fill_between(np.arange(end), close[:end].min(), close[:end].max(), where=held, color="tab:green",
                        alpha=0.25, step="post", label="MacroHFT (seed 0) holds")
        ax.set(title=f"Positions over price: {title}", ylabel="close")
        ax.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def _weights(weights, members):
    figure, ax = plt.subplots(figsize=(10, 3))
    weights = np.asarray(weights)
    ax.stackplot(np.arange(len(weights)), weights.T, labels=members)
    ax.set(xlabel="step (minutes)", ylabel="weight", ylim=(0, 1), title="Hyper-agent mixing weights (seed 0)")
    ax.legend(fontsize=7, ncol=len(members), loc="upper center")
    figure.tight_layout()
    return figure


def _regimes(regimes: dict, rows):
    figure, ax = plt.subplots(figsize=(10, 4))
    names = list(next(iter(regimes.values())))
    width = 0.8 / len(rows)
    for i, (key, label) in enumerate(rows):
        ax.bar(np.arange(len(names)) + i * width, [100 * (regimes[key][n] or 0.0) for n in names], width, label=label)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.set(ylabel="mean chunk P&L, % of notional", title="By regime")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=7)
    figure.tight_layout()
    return figure
