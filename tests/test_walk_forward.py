"""The walk-forward benchmark's windows and paired intervals (``benchmarks/experiments/walk_forward.py``):
windows in time order that never overlap, and a bootstrap interval checked against the normal
approximation and a degenerate case."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.experiments.walk_forward import DAY_MS, coin_windows, paired_interval, summary_rows, windows_of
from tests.support import SHARED_DATA

START = 1_617_321_600_000  # 2021-04-02 00:00 UTC


def test_windows_are_train_valid_test_in_order_and_never_overlap():
    windows = windows_of(START, START + 75 * DAY_MS)
    assert len(windows) == 2 and len(windows_of(START, START + 29 * DAY_MS)) == 1
    previous_end = START
    for w in windows:
        assert w["train"][0] == previous_end  # consecutive, nothing skipped or shared
        assert w["train"][1] == w["valid"][0] and w["valid"][1] == w["test"][0]
        assert all((end - start) % 60_000 == 0 for start, end in w.values())
        spans = [end - start for start, end in w.values()]
        np.testing.assert_allclose(np.array(spans) / sum(spans), [0.70, 0.15, 0.15], atol=1e-6)
        previous_end = w["test"][1]
    assert previous_end == START + 75 * DAY_MS


def test_paired_interval_against_the_normal_approximation():
    assert paired_interval([0.7] * 6) == pytest.approx((0.7, 0.7, 0.7))
    x = np.random.default_rng(5).normal(1.0, 2.0, 400)
    mean, low, high = paired_interval(x)
    half = 1.645 * x.std() / np.sqrt(x.size)  # the 90% normal interval, which the bootstrap approaches
    assert mean == pytest.approx(x.mean())
    assert low == pytest.approx(mean - half, abs=0.1 * half) and high == pytest.approx(mean + half, abs=0.1 * half)


def test_summary_pairs_windows_by_hand():
    per_window = [{"coin": "BTC", "split": "test", "macrohft": 2.0, "buy_and_hold": 1.0, "flat": 0.0, "timing_percentile": 90},
                  {"coin": "BTC", "split": "test", "macrohft": -1.0, "buy_and_hold": 1.0, "flat": 0.0, "timing_percentile": 40},
                  {"coin": "ETH", "split": "test", "macrohft": 0.5, "buy_and_hold": 2.5, "flat": 0.0, "timing_percentile": 85}]
    rows = {r["coin"]: r for r in summary_rows(per_window, "test")}
    assert rows["BTC"]["MacroHFT ASR"] == pytest.approx(0.5) and rows["all"]["windows"] == 3
    assert rows["BTC"]["minus buy and hold"].startswith("-0.50 [") and rows["all"]["minus flat"].startswith("+0.50 [")
    assert rows["all"]["timing percentile >= 80"] == "2 of 3"


def test_real_coins_give_four_windows_each():
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not available: {SHARED_DATA}")
    for coin in ("BTC", "ETH", "DOT", "LTC"):
        windows = coin_windows(coin, 4)
        assert len(windows) == 4, coin
        tests = sorted(w["test"] for w in windows)
        assert all(a[1] <= b[0] for a, b in zip(tests, tests[1:])), coin
    assert not any("2022-05" in w["file"].name for w in coin_windows("DOT", 10))  # no volume: not usable


def test_levers_keep_only_what_beats_the_default_on_validation():
    """``benchmarks/experiments/levers.py``'s rule: a lever is kept when its paired validation interval
    against the default lies above 0; test rows never choose."""
    from benchmarks.experiments.levers import LEVERS, summary

    default, better, noise = list(LEVERS)[:3]
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        base = float(rng.normal())
        for split in ("valid", "test"):
            for lever, asr in ((default, base), (better, base + 1.0 + 0.1 * rng.normal()), (noise, base + rng.normal())):
                rows.append({"window": f"W-{i}", "lever": lever, "split": split, "asr": asr, "trades_per_day": 2.0,
                             "timing": 90.0 if lever == better else 50.0, "buy_and_hold": base, "equal_weight_mix": base})
    table = {(r["split"], r["lever"]): r for r in summary(rows)}
    assert table["valid", better]["kept (valid rule)"] == "yes"
    assert table["valid", noise]["kept (valid rule)"] == "no"
    assert table["valid", default]["kept (valid rule)"] == "default"
    assert "kept (valid rule)" not in table["test", better]
    assert table["valid", better]["minus default"].startswith("+1.0") and table["valid", better]["timing >= 80"] == "12 of 12"


def test_setting_choice_pairs_windows_and_chooses_on_last_epoch_validation_only():
    """``benchmarks/experiments/setting_choice.py``: a value replaces the default only when its paired
    last-epoch validation interval lies above 0; a value that wins on the kept epoch or on test
    alone is not chosen; windows missing from the default are left out of the pairing."""
    from benchmarks.experiments.setting_choice import choice_rows

    rng = np.random.default_rng(1)
    default, better, kept_only = {}, {}, {}
    for i in range(10):
        for split in ("valid", "test"):
            for epoch in ("last", "kept"):
                base = float(rng.normal())
                score = lambda asr: {"asr": asr, "buy_and_hold": base, "trades_per_day": 3.0, "timing": 85.0,  # noqa: E731
                                     "long_from_flat": 0.25, "stay_long": 0.5 + 0.01 * i}
                default[f"W-{i}", split, epoch] = score(base)
                better[f"W-{i}", split, epoch] = score(base + 0.8 + 0.05 * rng.normal())
                kept_only[f"W-{i}", split, epoch] = score(base + (2.0 if (split, epoch) != ("valid", "last") else rng.normal()))
    better["W-extra", "valid", "last"] = {"asr": -50.0, "buy_and_hold": 0.0, "trades_per_day": 1.0, "timing": 0.0,
                                          "long_from_flat": 1.0, "stay_long": 1.0}
    rows = {(r["split"], r["epoch"], r["setting"]): r for r in choice_rows(("d", default), [("b", better), ("k", kept_only)])}
    assert rows["valid", "last", "b"]["chosen (rule)"] == "yes" and rows["valid", "last", "b"]["windows"] == 10
    assert float(rows["valid", "last", "b"]["minus d"].split()[0]) == pytest.approx(0.8, abs=0.05)
    assert rows["valid", "last", "k"]["chosen (rule)"] == "no" and rows["valid", "last", "d"]["chosen (rule)"] == "default"
    assert float(rows["valid", "kept", "k"]["minus d"].split()[0]) == pytest.approx(2.0) and "chosen (rule)" not in rows["valid", "kept", "k"]
    assert "chosen (rule)" not in rows["test", "last", "b"] and rows["test", "last", "b"]["timing >= 80"] == "10 of 10"
    assert rows["valid", "last", "b"]["sub-agents long from flat %"] == pytest.approx(25.0)
    assert rows["valid", "last", "b"]["sub-agents stay long %"] == pytest.approx(54.5)  # the extra window left out


def test_results_files_keep_full_and_smoke_tables_apart_grouped_by_topic(tmp_path, monkeypatch):
    """``benchmarks/common.record``: a smoke table goes to RESULTS_quick.md; RESULTS.md lists its
    tables by topic in a contents list whose links are the headings' anchors, whatever order the
    tables were recorded in, and a table recorded again replaces its section in place."""
    import re

    from benchmarks.common import record

    monkeypatch.setenv("HFTJAX_RESULTS_DIR", str(tmp_path))
    monkeypatch.delenv("HFTJAX_BENCH_TAG", raising=False)
    env = {"date": "today"}
    record("walk_forward", "Walk-forward: one", [{"a": 1}], env)
    record("env_throughput_cpu", "Env throughput (cpu)", [{"a": 2}], env)
    record("walk_forward_windows", "Walk-forward: one", [{"a": 3}], env)
    record("eth_scale_quick", "ETH scale [quick]", [{"a": 4}], env)
    record("walk_forward", "Walk-forward: one", [{"a": 5}], env)
    full, quick = (tmp_path / "RESULTS.md").read_text(), (tmp_path / "RESULTS_quick.md").read_text()
    assert "eth_scale_quick" in quick and "eth_scale_quick" not in full and "walk_forward" not in quick
    order = [m.group(1) for m in re.finditer(r"<!-- (\S+):begin -->", full)]
    assert order == ["env_throughput_cpu", "walk_forward", "walk_forward_windows"]  # throughput first
    assert "| 5 |" in full and "| 1 |" not in full  # replaced, not appended
    links = re.findall(r"\]\(#([^)]+)\)", full)
    assert links == ["env-throughput-cpu", "walk-forward-one", "walk-forward-one-1"]  # repeated title: GitHub's -1
    assert full.index("- Throughput and scale") < full.index("- Walk-forward over coins") < full.index("# Throughput")
