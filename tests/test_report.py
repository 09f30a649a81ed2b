"""``report.md``'s figures against hand computations: the header, mean ± sample std and the
bootstrap interval over seeds, the short-split note."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hftjax.report import bootstrap_interval, cell, header_lines, interval_cell


def test_cell_is_the_mean_and_the_sample_std():
    entry = {"per_seed": [{"TR": 0.01}, {"TR": 0.03}, {"TR": -0.02}]}
    # percent: 1, 3, -2 -> mean 2/3, sample variance ((1/3)^2 + (7/3)^2 + (8/3)^2) / 2 = 114/18
    assert cell(entry, "TR", 100, 2) == f"0.67 ± {np.sqrt(114 / 18):.2f}" == "0.67 ± 2.52"
    assert cell({"per_seed": [{"TR": 0.01}]}, "TR", 100, 2) == "1.00"  # one seed: no spread to show
    assert cell({"TR": 0.05}, "TR", 100, 1) == "5.0"  # a rule: its value


@pytest.mark.parametrize("values", [[1.0, 3.0, -2.0], [0.5, 0.1], [4.0, 1.0, 2.0, 8.0, -1.0]])
def test_bootstrap_interval_enumerates_every_resample(values):
    means = sorted(np.mean(pick) for pick in itertools.product(values, repeat=len(values)))  # n**n resamples
    position = 0.05 * (len(means) - 1)  # linear interpolation between order statistics
    low = means[int(position)] + (position - int(position)) * (means[int(position) + 1] - means[int(position)])
    got = bootstrap_interval(values)
    assert got[0] == pytest.approx(low, abs=1e-12)
    assert min(values) <= got[0] <= np.mean(values) <= got[1] <= max(values)
    assert interval_cell({"per_seed": [{"x": v} for v in values]}, "x", 1, 2) == f"[{got[0]:.2f}, {got[1]:.2f}]"


def metrics_over(days: float) -> dict:
    start = np.datetime64("2024-01-01T00:00")
    end = start + np.timedelta64(int(days * 1440), "m")
    return {"period": [f"{start}:00+00:00", f"{end}:00+00:00"], "rows": int(days * 1440) + 1, "fee": 2e-4,
            "max_holding": 0.25, "first_close": 2000.0, "market": {"symbol": "ETHUSDT", "venue": "Binance spot"},
            "macrohft": {"per_seed": [{"seed": 0}, {"seed": 2}]}, "config_sha256": "ab" * 32, "hyper_best_epoch": [3, 5],
            "software": {"hftjax": "0.1.0", "git_commit": "c0ffee" * 7, "git_dirty": True, "jax": "0.10.2",
                         "device_count": 1, "device_kind": "cpu"}}


def test_header_names_market_period_size_seeds_config_and_code():
    text = "\n".join(header_lines(metrics_over(2.5)))
    assert "| market | ETHUSDT on Binance spot |" in text
    assert "| period (UTC) | 2024-01-01T00:00 to 2024-01-03T12:00 (2.5 days) |" in text
    assert "| rows | 3,601 one-minute bars |" in text and "| fee | 0.02 % of the traded notional |" in text
    assert "0.25 coins at the top level, 500.00 in quote currency" in text  # 0.25 x 2,000
    assert "| seeds | 0, 2 |" in text and "sha256 abababababababab" in text and "[3, 5]" in text
    assert "git c0ffeec0ffee (dirty)" in text and "jax 0.10.2, 1 x cpu" in text
    assert "**Short split:** 2.5 days" in text
    assert "Short split" not in "\n".join(header_lines(metrics_over(45)))


def plotted(rows: int, seeds: int = 3, seed: int = 0):
    """The report's figures of a constructed split: MacroHFT (random trades per seed), DQN, the
    equal-weight mix, buy and hold and the oracle bound, with their metrics (``paper_metrics``)."""
    import jax

    from hftjax.env import simulate
    from hftjax.metrics import paper_metrics, step_returns
    from hftjax.plots import figures

    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, rows)))
    times = np.datetime64("2024-03-01T00:00", "ms") + np.arange(rows) * np.timedelta64(60_000, "ms")
    metrics = {"macrohft": {"per_seed": [{"seed": s} for s in range(seeds)]}}
    series, returns = {}, {}
    for key, runs in (("macrohft", seeds), ("equal_weight_mix", seeds), ("dqn", seeds), ("buy_and_hold", 1),
                      ("oracle_single_subagent", seeds)):
        if key == "buy_and_hold":
            actions = np.ones((1, rows - 1), np.int32)
        else:  # positions held for a geometric number of minutes
            actions = (np.cumsum(rng.random((runs, rows - 1)) < 0.02, axis=1) % 2).astype(np.int32)
        done = simulate(close, actions, fee=2e-4, max_holding=1.0, levels=2)
        rewards, required = np.asarray(done["rewards"]), np.asarray(done["required_money"])
        series[key] = (actions, rewards)
        returns[key] = np.stack([np.asarray(step_returns(r, q)) for r, q in zip(rewards, required)])
        per_run = [jax.tree.map(float, paper_metrics(r, q)) for r, q in zip(rewards, required)]
        metrics[key] = {"per_seed": [{"seed": s, **m} for s, m in enumerate(per_run)]} if key != "buy_and_hold" else per_run[0]
    regimes = {key: {"slope 1": 0.01, "vol 1": None} for key in series}
    weights = rng.dirichlet(np.ones(6), rows - 1)
    return figures(metrics, series, returns, times, close, regimes, weights, [f"a{i}" for i in range(6)], 2), metrics, series


@pytest.fixture(scope="module")
def small_plots():
    drawn, metrics, series = plotted(3000)
    yield drawn, metrics, series
    import matplotlib.pyplot as plt
    plt.close("all")


def strategy_lines(ax):
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_macrohft_is_drawn_apart_and_every_strategy_distinct(small_plots):
    drawn, _, _ = small_plots
    for name in ("equity", "drawdown"):
        lines = strategy_lines(drawn[name].axes[0])
        assert set(lines) == {"MacroHFT", "equal-weight mix", "DQN", "buy and hold",
                              "oracle single sub-agent (bound, chosen on this split)"}
        looks = {label: (line.get_color(), line.get_linestyle()) for label, line in lines.items()}
        assert len(set(looks.values())) == len(looks)  # no two strategies look alike
        macro = lines.pop("MacroHFT")
        assert all(macro.get_color() != line.get_color() for line in lines.values())
        assert macro.get_linewidth() > max(line.get_linewidth() for line in lines.values())
        assert lines["buy and hold"].get_color() == "black"
        oracle = lines["oracle single sub-agent (bound, chosen on this split)"]
        assert oracle.get_color() == "grey" and oracle.get_linestyle() == "--"


def test_every_time_axis_shows_utc_dates(small_plots):
    import matplotlib.dates as mdates

    drawn, _, _ = small_plots
    for name in ("equity", "drawdown", "positions", "weights"):
        for ax in drawn[name].axes:
            assert isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter), name
            lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
            for line in lines:
                assert np.issubdtype(np.asarray(line.get_xdata()).dtype, np.datetime64), name
        legend = drawn[name].axes[-1 if name != "positions" else 1].get_legend()
        if legend is not None:  # outside the data: anchored right of the axes
            assert legend.get_bbox_to_anchor().x0 >= drawn[name].axes[0].get_window_extent().x1 - 1


def test_seed_band_spans_the_seeds_and_the_drawdown_floor_is_the_tables_mdd(small_plots):
    from matplotlib.collections import PolyCollection

    drawn, metrics, _ = small_plots
    for name in ("equity", "drawdown"):
        bands = [c for c in drawn[name].axes[0].collections
                 if isinstance(c, PolyCollection) and c.get_label() == "MacroHFT: seeds min-max"]
        assert len(bands) == 1, name
    band = next(c for c in drawn["drawdown"].axes[0].collections if c.get_label() == "MacroHFT: seeds min-max")
    deepest = band.get_paths()[0].vertices[:, 1].min()
    assert deepest == pytest.approx(-100 * max(s["MDD"] for s in metrics["macrohft"]["per_seed"]), rel=1e-5)


def test_positions_show_every_seed_with_its_entries_and_exits(small_plots):
    drawn, metrics, series = small_plots
    price, steps = drawn["positions"].axes[0], drawn["positions"].axes[2]
    actions = series["macrohft"][0]
    for seed, row in enumerate(actions):
        change = np.diff(np.concatenate([[0], row[:1440]]))
        markers = {c.get_label(): len(c.get_offsets()) for c in price.collections}
        assert markers[f"seed {seed} entry (up)"] == np.sum(change > 0)
        assert markers[f"seed {seed} exit (down)"] == np.sum(change < 0)
    assert len(steps.get_lines()) == len(actions)


def test_a_year_of_minutes_is_downsampled_for_drawing_only():
    from hftjax.plots import MAX_POINTS

    drawn, _, _ = plotted(525_600, seeds=2)
    for name in ("equity", "drawdown", "weights"):
        for line in drawn[name].axes[0].get_lines():
            assert len(line.get_xdata()) <= MAX_POINTS + 2
    import matplotlib.pyplot as plt
    plt.close("all")
