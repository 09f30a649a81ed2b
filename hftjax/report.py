"""The evaluation report of a split: ``report.md`` (a header naming market, period, size, config
and code; Table-1-style tables of mean ± sample std over seeds with bootstrap intervals; the
standard metrics; a per-regime breakdown; the timing test) and PNG plots with UTC dates (equity and
drawdown with a band over seeds, every seed's trades over price, the hyper-agent's mixing weights,
per-regime bars), written beside ``metrics.json``. MacroHFT is drawn thick in a colour no other
strategy has (``hftjax.plots``).

Every number in the tables is read from the metrics dict ``evaluate`` writes, so the report and
``metrics.json`` cannot disagree; the per-regime table is computed here from the per-step rewards.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from hftjax.io import atomic_path, write_text
from hftjax.learner.loop import describe_stop
from hftjax.plots import figures
from hftjax.strategies import strategies

# (metric, header with its unit, scale, decimals): the paper's metrics and how a run trades
COLUMNS = (("TR", "TR %", 100, 2), ("ASR", "ASR", 1, 2), ("MDD", "MDD %", 100, 2), ("ACR", "ACR", 1, 2),
           ("ASoR", "ASoR", 1, 2), ("AVOL", "AVOL % a year", 100, 2), ("trades", "trades", 1, 0),
           ("exposure", "exposure %", 100, 1), ("fees_paid", "fees paid (quote)", 1, 2))
# the standard set (``hftjax.metrics.standard_metrics``); drawdown length in hours of minutes
STANDARD_COLUMNS = (("sharpe", "Sharpe", 1, 2), ("sortino", "Sortino", 1, 2), ("cagr", "CAGR %", 100, 1),
                    ("calmar", "Calmar", 1, 2), ("max_drawdown", "max drawdown %", 100, 2),
                    ("max_drawdown_steps", "longest drawdown h", 1 / 60, 1), ("win_rate", "win rate %", 100, 1),
                    ("profit_factor", "profit factor", 1, 2))
# the metrics whose interval over seeds is shown
INTERVAL_COLUMNS = tuple(c for c in COLUMNS if c[0] in ("TR", "ASR", "MDD", "exposure"))
CONFIDENCE = 0.90
EXACT_UP_TO = 6  # seeds: up to this many, the bootstrap enumerates every resample (6**6 = 46,656)
RESAMPLES = 10_000
SHORT_DAYS = 30  # a split shorter than this gets the note that annualised figures are unstable


def seed_values(entry: dict, metric: str, scale: float = 1.0) -> np.ndarray:
    return np.array([s[metric] for s in entry["per_seed"]], np.float64) * scale


def cell(entry: dict, metric: str, scale: float, decimals: int) -> str:
    """``mean ± sample std`` over seeds for a seeded strategy, the value for a deterministic one."""
    if "per_seed" in entry:
        values = seed_values(entry, metric, scale)
        text = f"{values.mean():.{decimals}f}"
        return text + (f" ± {values.std(ddof=1):.{decimals}f}" if len(values) > 1 else "")
    return f"{entry[metric] * scale:.{decimals}f}"


def bootstrap_interval(values, confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one per seed): every one of the
    n**n equally likely resamples when n <= ``EXACT_UP_TO`` (no randomness), else ``RESAMPLES``
    drawn ones."""
    values = np.asarray(values, np.float64)
    n = len(values)
    if n <= EXACT_UP_TO:
        picks = np.stack(np.meshgrid(*[np.arange(n)] * n, indexing="ij"), -1).reshape(-1, n)
    else:
        picks = np.random.default_rng(seed).integers(0, n, (RESAMPLES, n))
    means = values[picks].mean(1)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def interval_cell(entry: dict, metric: str, scale: float, decimals: int) -> str:
    if "per_seed" not in entry or len(entry["per_seed"]) < 2:
        return "–"
    low, high = bootstrap_interval(seed_values(entry, metric, scale))
    return f"[{low:.{decimals}f}, {high:.{decimals}f}]"


def table(metrics: dict, columns, format_cell) -> list[str]:
    """A Markdown table, one row per strategy ``metrics`` holds."""
    lines = ["| strategy | " + " | ".join(c[1] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for key, label in strategies(metrics):
        lines.append(f"| {label} | " + " | ".join(format_cell(metrics[key], metric, scale, decimals)
                                                 for metric, _, scale, decimals in columns) + " |")
    return lines


def header_lines(metrics: dict) -> list[str]:
    """What was evaluated and how: market, period, size, seeds, config and code."""
    start, end = (np.datetime64(t.replace("+00:00", "").rstrip("Z"), "m") for t in metrics["period"])
    days = (end - start) / np.timedelta64(1, "D")
    market = metrics.get("market") or {}
    code = metrics.get("software", {})
    commit = code.get("git_commit")
    lines = ["| | |", "|---|---|",
             f"| market | {market.get('symbol') or 'unknown symbol'} on {market.get('venue') or 'an unknown venue'} |",
             f"| period (UTC) | {start} to {end} ({days:.1f} days) |",
             f"| rows | {metrics['rows']:,} one-minute bars |",
             f"| fee | {100 * metrics['fee']:g} % of the traded notional |",
             f"| position size | {metrics['max_holding']:.6g} coins at the top level, "
             f"{metrics['max_holding'] * metrics['first_close']:,.2f} in quote currency at the split's first close |",
             f"| seeds | {', '.join(str(s['seed']) for s in metrics['macrohft']['per_seed'])} |",
             f"| config | sha256 {metrics.get('config_sha256', 'not recorded')[:16]}; hyper-agent best epochs "
             f"{metrics['hyper_best_epoch']} |",
             f"| code | hftjax {code.get('hftjax', '?')}"
             + (f", git {commit[:12]}{' (dirty)' if code.get('git_dirty') else ''}" if commit else "")
             + f", jax {code.get('jax', '?')}, {code.get('device_count', '?')} x {code.get('device_kind', '?')} |"]
    training = metrics.get("training", {})
    for record in training.get("stopped", []):
        lines += ["", f"**Training stopped early:** {describe_stop(record)}."]
    saturated = [s for s in training.get("hyper_saturated", []) if s["saturated_updates"]]
    if saturated:
        lines += ["", "Hyper-agent softmax saturated (a mixing weight of 0 somewhere in an update's batch; a diagnostic, "
                      "training went on): " + "; ".join(f"seed {s['seed']}: {s['saturated_updates']:,} updates in "
                                                         f"{s['saturated_epochs']} epochs" for s in saturated) + "."]
    if days < SHORT_DAYS:
        lines += ["", f"**Short split:** {days:.1f} days. ASR, AVOL, ACR, ASoR, Sharpe, Sortino, CAGR and Calmar are "
                      f"annualised from it and unstable below {SHORT_DAYS} days; compare TR, MDD and trades."]
    return lines


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


def write_report(out: Path, split: str, metrics: dict, series: dict, returns: dict, times, close, labels: dict,
                 weights, members: tuple[str, ...], levels: int) -> Path:
    """Write the report and its plots under ``out``; returns the report's path.

    ``series``: {strategy key: (actions (S, T-1), rewards (S, T-1))}; ``returns``: {key: (S, T-1)
    per-step returns}; ``times`` (T,) the split's UTC datetime64s; ``weights`` (T-1, M): the
    hyper-agent's mixing weights over ``members`` along its first seed's run."""
    close = np.asarray(close, np.float64)
    name = "report.md" if split == "test" else f"report_{split}.md"
    plots = out / "plots"
    regimes, counts = regime_table(series, close, labels, metrics["max_holding"])
    drawn_figures = figures(metrics, series, returns, times, close, regimes, weights, members, levels)
    for figure_name, figure in drawn_figures.items():
        with atomic_path(plots / f"{split}_{figure_name}.png") as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        plt.close(figure)
    lines = [f"# MacroHFT evaluation: {split} split", "", *header_lines(metrics), "",
             "## Results", "", "Mean ± sample standard deviation over seeds; the rules (buy and hold, MACD, IV) are "
             "deterministic. TR, MDD and the returns are on the money a run put up (its required money); AVOL is "
             "annualised. The best single sub-agent is chosen on the validation split; the oracle one is chosen on "
             "this split and is an upper bound, not a result.", "", *table(metrics, COLUMNS, cell),
             "", "## Intervals over seeds", "",
             f"Bootstrap {100 * CONFIDENCE:.0f} % interval of the mean over seeds (percentile; every resample "
             f"enumerated up to {EXACT_UP_TO} seeds). With 2 or 3 seeds it shows how far seeds disagree, not a "
             "population's interval.", "", *table(metrics, INTERVAL_COLUMNS, interval_cell),
             "", "## Standard metrics", "",
             "Mean ± sample std over seeds, on per-minute returns (`results/<split>_returns.csv`); the longest "
             "drawdown in hours.", "", *table(metrics, STANDARD_COLUMNS, cell)]
    lines += ["", "## By regime", "", "Mean P&L per notional (%) of the chunks with each trend (slope) and "
              "volatility (vol) label, labelled with the training split's edges; chunks per label: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()) + ".", "",
              "| strategy | " + " | ".join(counts) + " |", "|---" * (len(counts) + 1) + "|"]
    for key, label in strategies(metrics):
        lines.append(f"| {label} | " + " | ".join("–" if v is None else f"{100 * v:.3f}" for v in regimes[key].values())
                     + " |")
    lines += ["", *diagnostics_lines(metrics)]
    lines += ["", "## Plots", ""] + [f"![{n}](plots/{split}_{n}.png)" for n in drawn_figures]
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
