"""Market decomposition against direct computations: SciPy filtfilt + polyfit, NumPy std."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from hftjax import decompose
from hftjax.errors import ConfigError


def filter_then_fit(x, cutoff=0.05):
    smooth = scipy.signal.filtfilt(*scipy.signal.butter(1, cutoff), x)
    return np.polyfit(np.arange(len(x)), smooth, 1)[0]


def price_path(n, seed):
    rng = np.random.default_rng(seed)
    return 2000 * np.exp(np.cumsum(rng.standard_t(4, n) * 1e-3))


def test_butterworth_coefficients_match_scipy():
    for cutoff in (0.01, 0.05, 0.3):
        b, a = decompose.butter1(cutoff)
        B, A = scipy.signal.butter(1, cutoff)
        np.testing.assert_allclose(b, B, rtol=1e-12)
        np.testing.assert_allclose(a, A, rtol=1e-12)


def test_filtfilt_matches_scipy():
    x = price_path(700, 1)
    np.testing.assert_allclose(decompose.filtfilt(x), scipy.signal.filtfilt(*scipy.signal.butter(1, 0.05), x),
                               rtol=1e-12)


@pytest.mark.parametrize("n", [16, 360, 1001, 4320])
def test_slope_kernel_equals_filter_then_fit(n):
    x = price_path(n, n)
    assert decompose.slope_kernel(n) @ x == pytest.approx(filter_then_fit(x), rel=1e-9, abs=1e-12)


def test_chunk_slopes_one_dot_product_per_chunk():
    x = price_path(3 * 500 + 123, 7)  # the tail remainder is dropped
    slopes = decompose.chunk_slopes(x, 500)
    assert slopes.shape == (3,)
    np.testing.assert_allclose(slopes, [filter_then_fit(x[i * 500:(i + 1) * 500]) for i in range(3)], rtol=1e-9)


def test_rolling_slope_is_the_convolution():
    x = price_path(500, 11)
    rolling = decompose.rolling_slope(x, 360)
    assert np.isnan(rolling[:359]).all()
    for t in (359, 420, 499):
        assert rolling[t] == pytest.approx(filter_then_fit(x[t - 359: t + 1]), rel=1e-9)


def test_chunk_volatility_first_return_zero():
    x = price_path(1000, 5)
    vol = decompose.chunk_volatility(x, 400)
    for i, v in enumerate(vol):
        c = x[i * 400:(i + 1) * 400]
        returns = np.r_[0.0, c[1:] / c[:-1] - 1]
        assert v == pytest.approx(np.std(returns, ddof=1), rel=1e-12)


def test_labelling_rule_by_hand():
    values = np.arange(21, dtype=float)  # quantiles: 0, 1, 7, 13, 19, 20
    edges = decompose.quantile_edges(values)
    np.testing.assert_allclose(edges, [0, 1, 7, 13, 19, 20])
    labels = decompose.assign_labels(values, edges, fold_tails=False)
    # right-closed bins: [0, 1] -> 0, (1, 7] -> 1, (7, 13] -> 2, (13, 19] -> 3, (19, 20] -> 4
    expected = [0, 0] + [1] * 6 + [2] * 6 + [3] * 6 + [4]
    np.testing.assert_array_equal(labels, expected)


def test_valid_test_use_train_edges_with_tails_folded():
    edges = np.array([0.0, 1.0, 7.0, 13.0, 19.0, 20.0])
    values = np.array([-100.0, 0.5, 1.0, 1.5, 10.0, 18.0, 19.5, 1e9])
    open_ = decompose.assign_labels(values, edges, fold_tails=False)
    np.testing.assert_array_equal(open_, [0, 0, 0, 1, 2, 3, 4, 4])  # outer edges opened to +-inf
    folded = decompose.assign_labels(values, edges, fold_tails=True)
    np.testing.assert_array_equal(folded, [1, 1, 1, 1, 2, 3, 3, 3])


@pytest.mark.parametrize("n", [20, 57, 100, 333])
def test_train_label_counts_within_one_chunk_of_quantiles(n):
    values = np.random.default_rng(n).standard_t(3, n)
    labels = decompose.assign_labels(values, decompose.quantile_edges(values), fold_tails=False)
    counts = np.bincount(labels, minlength=5)
    target = n * np.diff(decompose.QUANTILES)
    assert np.all(np.abs(counts - target) <= 1), (counts, target)


def test_label_groups_layout():
    groups = decompose.label_groups(np.array([2, 0, 2, 4]), np.array([3, 5, 8, 9]))
    assert groups == {"0": [5], "1": [], "2": [3, 8], "3": [], "4": [9]}


def test_bad_parameters():
    with pytest.raises(ConfigError, match="chunk_len"):
        decompose.chunk_view(np.ones(10), 1)
    with pytest.raises(ConfigError, match="butter_cutoff"):
        decompose.butter1(1.5)
    with pytest.raises(ConfigError, match="chunk_len"):
        decompose.quantile_edges(np.array([]))
