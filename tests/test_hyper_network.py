"""The hyper-agent network against the reference's seeded hyper-agent and 6-agent mixture."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hftjax.errors import DataError
from hftjax.hyper import HyperAgentNet, mix_q
from hftjax.interop.reference import (hyperagent_params, load_reference_hyperagent, load_reference_subagent,
                                     read_npz_export)
from hftjax.subagent.network import SubAgentNet

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
AGENTS = ("slope_1", "slope_2", "slope_3", "vol_1", "vol_2", "vol_3")
RTOL, ATOL = 1e-5, 1e-4
ENCODE_ATOL = 1e-3


def reference_file(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference fixture not available: {path}")
    return path


@functools.lru_cache(maxsize=None)
def parity() -> dict[str, np.ndarray]:
    with np.load(reference_file("macrohft_eth_parity.npz"), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def inputs():
    d = parity()
    return (jnp.asarray(d["single"]), jnp.asarray(d["trend"]), jnp.asarray(d["context"]),
            jnp.asarray(d["previous_action"].astype(np.int32)))


def hyper_params():
    return load_reference_hyperagent(reference_file("macrohft_eth_parity.npz"))


@functools.lru_cache(maxsize=None)
def forward(context: bool = True):
    return jax.jit(HyperAgentNet(context=context).apply)


@functools.lru_cache(maxsize=None)
def encoder():
    return jax.jit(functools.partial(HyperAgentNet().apply, method=HyperAgentNet.encode))


def rowwise(fn, *arrays):
    """256 single-row passes, as the reference's ``*_rowwise`` outputs were made."""
    return jax.vmap(lambda *row: jax.tree_util.tree_map(lambda a: a[0], fn(*(a[None] for a in row))))(*arrays)


# --- parameters -----------------------------------------------------------------------------------


def test_param_tree_matches_flax_init():
    single, trend, context, prev = inputs()
    params = hyper_params()
    init = HyperAgentNet().init(jax.random.PRNGKey(0), single[:2], trend[:2], context[:2], prev[:2])
    shapes = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), tree)  # noqa: E731
    assert shapes(jax.device_get(params)) == shapes(jax.device_get(init))
    assert set(params["params"]) == {"fc1", "fc2", "embedding", "adaLN_modulation", "net_hidden", "net_out"}
    raw = read_npz_export(reference_file("macrohft_eth_parity.npz"), "hyperagent/param")
    assert len(raw) == 11
    np.testing.assert_array_equal(params["params"]["net_hidden"]["kernel"], raw["net.0.weight"].T)
    np.testing.assert_array_equal(params["params"]["net_out"]["bias"], raw["net.2.bias"])
    np.testing.assert_array_equal(params["params"]["adaLN_modulation"]["kernel"], raw["adaLN_modulation.1.weight"].T)
    np.testing.assert_array_equal(params["params"]["embedding"], raw["embedding.weight"])


def test_hyperagent_params_reports_bad_names_and_shapes():
    raw = read_npz_export(reference_file("macrohft_eth_parity.npz"), "hyperagent/param")
    with pytest.raises(DataError, match=r"net\.2\.bias"):
        hyperagent_params({k: v for k, v in raw.items() if k != "net.2.bias"})
    with pytest.raises(DataError, match=r"max_punish"):  # the sub-agent buffer has no place here
        hyperagent_params({**raw, "max_punish": np.float32(1e12)})
    with pytest.raises(DataError, match=r"net\.0\.weight"):
        hyperagent_params({**raw, "net.0.weight": raw["net.0.weight"][:, :32]})
    with pytest.raises(DataError, match=r"adaLN_modulation\.1\.weight"):
        hyperagent_params({**raw, "adaLN_modulation.1.weight": raw["adaLN_modulation.1.weight"][:64]})
    with pytest.raises(DataError, match=r"fc1\.weight"):
        hyperagent_params(raw, input_dim=36)
    with pytest.raises(DataError, match=r"fc2\.weight"):  # the ablation has no context layers
        hyperagent_params(raw, context=False)
    ablation = hyperagent_params({k: v for k, v in raw.items() if not k.startswith(("fc2", "adaLN"))},
                                 context=False)
    assert set(ablation["params"]) == {"fc1", "embedding", "net_hidden", "net_out"}
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(ablation))


# --- outputs against the PyTorch reference --------------------------------------------------------


def test_encode_parity():
    d = parity()
    single, trend, _, prev = inputs()
    params = hyper_params()
    key = np.asarray(encoder()(params, single, trend, prev))
    assert key.shape == (256, 64)
    np.testing.assert_allclose(key, d["hyperagent/encode_batch256"], atol=ENCODE_ATOL, rtol=0)
    np.testing.assert_allclose(key, d["hyperagent/encode_rowwise"], atol=ENCODE_ATOL, rtol=0)
    # action embedding first
    np.testing.assert_array_equal(key[:, :32], np.asarray(params["params"]["embedding"])[d["previous_action"]])
    # the forward pass returns the same key
    _, key_fwd = forward()(params, *inputs())
    np.testing.assert_array_equal(np.asarray(key_fwd), key)


def test_weights_parity():
    d = parity()
    params = hyper_params()
    weights, _ = forward()(params, *inputs())
    weights = np.asarray(weights)
    np.testing.assert_allclose(weights, d["hyperagent/weights_batch256"], rtol=RTOL, atol=ATOL)
    rows, _ = rowwise(functools.partial(forward(), params), *inputs())
    np.testing.assert_allclose(np.asarray(rows), d["hyperagent/weights_rowwise"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=0, atol=1e-6)
    assert weights.std(0).max() > 1e-3  # the fixture's random net.2 makes the weights non-trivial


@pytest.mark.parametrize("mode,suffix", [("batch", "batch256"), ("sample", "rowwise")])
def test_mixture_parity(mode, suffix):
    d = parity()
    single, trend, _, prev = inputs()
    subagents = reference_file("macrohft_eth_subagents.npz")
    net = SubAgentNet(levels=2, hidden=64, dueling_mean=mode)
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves),
                                     *(load_reference_subagent(subagents, agent=a) for a in AGENTS))
    sub_q = jax.jit(jax.vmap(net.apply, in_axes=(0, None, None, None)))(stacked, single, trend, prev)
    assert sub_q.shape == (6, 256, 2)
    for i, agent in enumerate(AGENTS):
        np.testing.assert_allclose(np.asarray(sub_q[i]), d[f"{agent}/q_{suffix}"], rtol=RTOL, atol=ATOL)
    weights = jnp.asarray(d[f"hyperagent/weights_{suffix}"])
    q_mix = np.asarray(mix_q(weights, sub_q))
    np.testing.assert_allclose(q_mix, d[f"mix/q_{suffix}"], rtol=RTOL, atol=ATOL)
    # end to end: our weights with our sub-agent Q
    ours = np.asarray(mix_q(forward()(hyper_params(), *inputs())[0], sub_q))
    np.testing.assert_allclose(ours, d[f"mix/q_{suffix}"], rtol=RTOL, atol=ATOL)


def test_mix_q_definition_and_layout():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(6), size=5).astype(np.float32)
    q = rng.normal(size=(6, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(mix_q(w, q)), np.einsum("na,ank->nk", w, q), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(A, N, K\)"):
        mix_q(w, q.transpose(1, 0, 2))  # (N, A, K) is not the layout


# --- fresh nets and the ablation ------------------------------------------------------------------


@pytest.mark.parametrize("context", [True, False])
def test_fresh_net_is_exactly_uniform(context):
    rng = np.random.default_rng(0)  # synthetic rows of price scale: runs without the fixture
    single = jnp.asarray(rng.normal(1500.0, 100.0, (256, 36)), jnp.float32)
    trend = jnp.asarray(rng.standard_t(5, (256, 9)), jnp.float32)
    ctx = jnp.asarray(rng.normal(0.0, 0.03, (256, 2)), jnp.float32)
    prev = jnp.asarray(rng.integers(0, 2, 256), jnp.int32)
    net = HyperAgentNet(context=context)
    params = net.init(jax.random.PRNGKey(3), single[:4], trend[:4], ctx[:4], prev[:4])
    assert not np.any(np.asarray(params["params"]["net_out"]["kernel"]))
    assert not np.any(np.asarray(params["params"]["net_out"]["bias"]))
    assert params["params"]["embedding"].shape == (2, 32)
    weights, key = net.apply(params, single, trend, ctx, prev)
    assert weights.shape == (256, 6) and key.shape == (256, 64)
    np.testing.assert_array_equal(np.asarray(weights), np.full((256, 6), 1 / 6, np.float32))


def test_context_ablation():
    single, trend, ctx, prev = inputs()
    net = HyperAgentNet(context=False)
    params = net.init(jax.random.PRNGKey(1), single[:2], trend[:2], ctx[:2], prev[:2])
    assert set(params["params"]) == {"fc1", "embedding", "net_hidden", "net_out"}
    # a non-zero last layer so the weights actually depend on the input
    params = jax.tree_util.tree_map(lambda a: a, params)
    params["params"]["net_out"] = hyper_params()["params"]["net_out"]
    apply = forward(False)
    w1, k1 = apply(params, single, trend, ctx, prev)
    w2, k2 = apply(params, single, trend, ctx[::-1] * 10.0 + 3.0, prev)
    w3, _ = apply(params, single, trend, None, prev)
    np.testing.assert_array_equal(np.asarray(w1), np.asarray(w2))
    np.testing.assert_array_equal(np.asarray(w1), np.asarray(w3))
    np.testing.assert_array_equal(np.asarray(k1), np.asarray(k2))
    assert np.asarray(w1).std(0).max() > 1e-3
    # with context conditioning the same weights do depend on the context
    full = hyper_params()
    wa, _ = forward()(full, single, trend, ctx, prev)
    wb, _ = forward()(full, single, trend, ctx[::-1], prev)
    assert np.abs(np.asarray(wa) - np.asarray(wb)).max() > 1e-4
