"""The released MacroHFT ETH sub-agent checkpoints, imported without torch, against the parity fixture."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hftjax.errors import ConfigError, DataError
from hftjax.interop.reference import (load_reference_subagent, read_npz_export, read_torch_state_dict,
                                     subagent_params)
from hftjax.subagent.network import SubAgentNet

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
AGENTS = ("slope_1", "slope_2", "slope_3", "vol_1", "vol_2", "vol_3")
SHA256 = {
    "slope_1": "5b6edb6095d1c8a595e0152365ab6ba1f7ce9eae166ae6c805f3611cbe3b9810",
    "slope_2": "111bcdb7512699016745b79f58b6f4c66f8fa384f8a1cfff6c73e2281438708a",
    "slope_3": "3a35ff84913c1c5b4598a5a41c066b505ec16fc5d5b8f49ecfe18098165a242b",
    "vol_1": "8123553407dca732500d90b55e1eb1e336e517038c5fb3e7360be1acf88bfae5",
    "vol_2": "eace24ae14dd997cb4120ad6f074d887b2c9b8f9e7cefb512a5fd16a6ad40a58",
    "vol_3": "61897d57e41ac496231da6d3874a19097f3d13d829e4d2196c35e026c114dcb6",
}
RTOL, ATOL = 1e-5, 1e-4


def reference_file(name: str) -> Path:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference checkpoints not available: {path}")
    return path


def checkpoint(agent: str) -> Path:
    return reference_file(f"macrohft_eth_subagents/{agent}.pkl")


@functools.lru_cache(maxsize=None)
def parity() -> dict[str, np.ndarray]:
    with np.load(reference_file("macrohft_eth_parity.npz"), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


@functools.lru_cache(maxsize=None)
def jitted_apply(mode: str):
    """One compiled forward per dueling mode, returning (Q, V, A) via captured intermediates."""
    net = SubAgentNet(levels=2, hidden=64, dueling_mean=mode)

    @jax.jit
    def apply(params, single, trend, previous_action):
        q, state = net.apply(params, single, trend, previous_action, capture_intermediates=True)
        inter = state["intermediates"]
        return q, inter["value_out"]["__call__"][0], inter["advantage_out"]["__call__"][0]

    return apply


def load(agent: str, source: str):
    if source == "pkl":
        return load_reference_subagent(checkpoint(agent))
    return load_reference_subagent(reference_file("macrohft_eth_subagents.npz"), agent=agent)


# --- the files themselves -------------------------------------------------------------------------


@pytest.mark.parametrize("agent", AGENTS)
def test_checkpoint_sha256(agent):
    assert hashlib.sha256(checkpoint(agent).read_bytes()).hexdigest() == SHA256[agent]


@pytest.mark.parametrize("agent", AGENTS)
def test_pkl_bit_identical_to_npz_export(agent):
    state = read_torch_state_dict(checkpoint(agent))
    export = read_npz_export(reference_file("macrohft_eth_subagents.npz"), agent)
    assert len(export) == 16 and sorted(state) == sorted(export)
    assert list(state)[0] == "max_punish"  # stored order: buffer first
    for name, array in export.items():
        assert state[name].dtype == array.dtype == np.float32, name
        assert state[name].shape == array.shape, name
        assert state[name].tobytes() == array.tobytes(), name
    assert state["max_punish"].shape == () and state["max_punish"] == np.float32(1e12)


def test_agent_order_matches():
    assert tuple(str(a) for a in parity()["agent_order"]) == AGENTS


def test_param_tree_matches_flax_init():
    params = load("slope_1", "pkl")
    data = parity()
    init = SubAgentNet(levels=2, hidden=64).init(jax.random.PRNGKey(0), jnp.asarray(data["single"][:2]),
                                                 jnp.asarray(data["trend"][:2]), jnp.zeros(2, jnp.int32))
    shapes = lambda tree: jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), tree)  # noqa: E731
    assert shapes(jax.device_get(params)) == shapes(jax.device_get(init))


# --- outputs against the PyTorch reference --------------------------------------------------------


@pytest.mark.parametrize("source", ["pkl", "npz"])
@pytest.mark.parametrize("agent", AGENTS)
def test_subagent_parity(agent, source):
    data = parity()
    params = load(agent, source)
    inputs = (jnp.asarray(data["single"]), jnp.asarray(data["trend"]),
              jnp.asarray(data["previous_action"].astype(np.int32)))

    q_batch, value, advantage = map(np.asarray, jitted_apply("batch")(params, *inputs))
    q_row, value_r, advantage_r = map(np.asarray, jitted_apply("sample")(params, *inputs))

    np.testing.assert_allclose(value, data[f"{agent}/value_batch"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(advantage, data[f"{agent}/advantage_batch"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(q_batch, data[f"{agent}/q_batch256"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(q_row, data[f"{agent}/q_rowwise"], rtol=RTOL, atol=ATOL)
    # the heads do not depend on the dueling mode, and Q is V + A - (the mode's mean of A)
    np.testing.assert_array_equal(value, value_r)
    np.testing.assert_array_equal(advantage, advantage_r)
    np.testing.assert_allclose(q_batch, value + advantage - advantage.mean(), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(q_row, value + advantage - advantage.mean(-1, keepdims=True), rtol=1e-6, atol=1e-5)
    # greedy actions agree between the two modes (and with the reference)
    np.testing.assert_array_equal(q_batch.argmax(-1), q_row.argmax(-1))
    np.testing.assert_array_equal(q_batch.argmax(-1), data[f"{agent}/q_rowwise"].argmax(-1))


# --- the reader on hand-made checkpoints ----------------------------------------------------------


class _FakeStorage:
    def __init__(self, storage_type, key, location, array):
        self.storage_type, self.key, self.location, self.array = storage_type, key, location, array


class _Tensor:
    def __init__(self, storage, offset, size, stride, parameter=False):
        self.args = (storage, offset, size, stride, False, OrderedDict())
        self.parameter = parameter


def _write_torch_zip(path: Path, state: OrderedDict, monkeypatch, top: str = "archive"):
    """Write a zip checkpoint in torch's layout using stand-in ``torch`` modules (torch is not installed)."""
    torch_mod, utils_mod = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - never called, only pickled by name
        raise AssertionError

    def _rebuild_parameter(*args):  # pragma: no cover
        raise AssertionError

    for fn in (_rebuild_tensor_v2, _rebuild_parameter):
        fn.__module__, fn.__qualname__ = "torch._utils", fn.__name__
        setattr(utils_mod, fn.__name__, fn)
    storage_types = {}
    for name in ("FloatStorage", "DoubleStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch_mod, name, cls)
        storage_types[name] = cls
    torch_mod._utils = utils_mod
    monkeypatch.setitem(sys.modules, "torch", torch_mod)
    monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)

    def reduce_tensor(t):
        rebuilt = (utils_mod._rebuild_tensor_v2, t.args)
        if t.parameter:
            return (utils_mod._rebuild_parameter, (rebuilt_obj(rebuilt), False, OrderedDict()))
        return rebuilt

    class rebuilt_obj:  # a picklable wrapper whose reduce is the given (callable, args)
        def __init__(self, rv):
            self.rv = rv

        def __reduce__(self):
            return self.rv

    blobs = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                blobs[obj.key] = obj.array.astype(obj.array.dtype.newbyteorder("<")).tobytes()
                return ("storage", storage_types[obj.storage_type], obj.key, obj.location, obj.array.size)
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(OrderedDict((k, rebuilt_obj(reduce_tensor(v))) for k, v in state.items()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{top}/data.pkl", buffer.getvalue())
        for key, blob in blobs.items():
            zf.writestr(f"{top}/data/{key}", blob)
        zf.writestr(f"{top}/version", "3\n")


def test_reader_strides_offsets_shared_storage_and_dtypes(tmp_path, monkeypatch):
    base = np.arange(20, dtype=np.float32) * 1.5
    shared = _FakeStorage("FloatStorage", "0", "cuda:3", base)
    doubles = _FakeStorage("DoubleStorage", "1", "cpu", np.linspace(0, 1, 6))
    longs = _FakeStorage("LongStorage", "2", "cuda:0", np.array([7, -3, 2**40], dtype=np.int64))
    state = OrderedDict([
        ("transposed", _Tensor(shared, 2, (3, 4), (1, 3))),  # a non-contiguous view at an offset
        ("flat", _Tensor(shared, 0, (5,), (1,), parameter=True)),
        ("scalar", _Tensor(shared, 19, (), ())),
        ("double", _Tensor(doubles, 0, (2, 3), (3, 1))),
        ("long", _Tensor(longs, 1, (2,), (1,))),
    ])
    path = tmp_path / "handmade.pt"
    _write_torch_zip(path, state, monkeypatch)
    monkeypatch.delitem(sys.modules, "torch")  # the reader must not need torch
    monkeypatch.delitem(sys.modules, "torch._utils")
    out = read_torch_state_dict(path)
    assert list(out) == list(state)
    expected = np.array([[base[2 + i + 3 * j] for j in range(4)] for i in range(3)], dtype=np.float32)
    np.testing.assert_array_equal(out["transposed"], expected)
    assert out["transposed"].flags.c_contiguous and out["transposed"].flags.owndata
    np.testing.assert_array_equal(out["flat"], base[:5])
    assert out["scalar"].shape == () and out["scalar"] == base[19]
    assert out["double"].dtype == np.float64
    np.testing.assert_array_equal(out["double"], np.linspace(0, 1, 6).reshape(2, 3))
    assert out["long"].dtype == np.int64 and out["long"].tolist() == [-3, 2**40]


def test_reader_rejects_overrunning_tensor(tmp_path, monkeypatch):
    storage = _FakeStorage("FloatStorage", "0", "cpu", np.zeros(6, np.float32))
    path = tmp_path / "overrun.pkl"
    _write_torch_zip(path, OrderedDict(w=_Tensor(storage, 1, (2, 3), (3, 1))), monkeypatch)
    with pytest.raises(DataError, match="overruns"):
        read_torch_state_dict(path)


def test_reader_rejects_a_zero_stride_before_allocating(tmp_path, monkeypatch, capsys):
    """A zero stride repeats one element: (1e6, 1e6) float32 from a 4-byte storage used to be a
    MemoryError asking for 3.6 TiB; now one line naming the file, nothing allocated."""
    storage = _FakeStorage("FloatStorage", "0", "cpu", np.ones(1, np.float32))
    path = tmp_path / "zero_stride.pt"
    _write_torch_zip(path, OrderedDict(w=_Tensor(storage, 0, (1_000_000, 1_000_000), (0, 0))), monkeypatch)
    with pytest.raises(DataError, match="more elements than its storage of 1 holds") as info:
        read_torch_state_dict(path)
    assert info.value.file == str(path) and len(str(info.value).splitlines()) == 1
    shared = _FakeStorage("FloatStorage", "0", "cpu", np.arange(6, dtype=np.float32))  # views within it still load
    _write_torch_zip(path, OrderedDict(w=_Tensor(shared, 0, (3, 2), (1, 3))), monkeypatch)
    np.testing.assert_array_equal(read_torch_state_dict(path)["w"], np.arange(6, dtype=np.float32).reshape(2, 3).T)


def test_truncated_and_garbage_checkpoints(tmp_path):
    raw = checkpoint("slope_1").read_bytes()
    for name, blob in [("garbage.pkl", os.urandom(4096)), ("truncated.pkl", raw[: len(raw) // 2]),
                       ("empty.pkl", b"")]:
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(DataError) as info:
            read_torch_state_dict(path)
        assert info.value.file == str(path)
        with pytest.raises(DataError):
            load_reference_subagent(path)
    # a valid zip whose data.pkl is cut short, and one whose storage entry is cut short
    with zipfile.ZipFile(checkpoint("slope_1")) as src:
        entries = {info.filename: src.read(info.filename) for info in src.infolist()}
    for label, victim in [("pickle", "trained_model/data.pkl"), ("storage", "trained_model/data/1")]:
        path = tmp_path / f"cut_{label}.pkl"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
            for name, blob in entries.items():
                dst.writestr(name, blob[: len(blob) // 3] if name == victim else blob)
        with pytest.raises(DataError):
            read_torch_state_dict(path)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_disallowed_global_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(OrderedDict([("fc1.weight", _Evil(marker))]), protocol=2)
    assert b"system" in payload
    zipped = tmp_path / "evil.pkl"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("evil/data.pkl", payload)
        zf.writestr("evil/version", "3\n")
    plain = tmp_path / "evil_plain.pkl"  # a legacy/plain pickle: not a zip, refused before unpickling
    plain.write_bytes(payload)
    for path in (zipped, plain):
        with pytest.raises(DataError):
            read_torch_state_dict(path)
        with pytest.raises(DataError):
            load_reference_subagent(path)
    with pytest.raises(DataError, match="disallowed global"):
        read_torch_state_dict(zipped)
    assert not marker.exists()
    # other globals, including torch ones outside the whitelist, are refused too
    for module, name in [("builtins", "eval"), ("torch._utils", "_import_dotted_name"), ("torch", "load")]:
        evil = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x03\x00\x00\x001+1q\x00\x85R."
        path = tmp_path / f"evil_{name}.pkl"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("x/data.pkl", evil)
        with pytest.raises(DataError, match=f"{module}.{name}"):
            read_torch_state_dict(path)


# --- name mapping errors --------------------------------------------------------------------------


def test_subagent_params_reports_bad_names_and_shapes():
    state = read_npz_export(reference_file("macrohft_eth_subagents.npz"), "vol_1")
    params = subagent_params(state)
    np.testing.assert_array_equal(params["params"]["fc1"]["kernel"], state["fc1.weight"].T)
    np.testing.assert_array_equal(params["params"]["adaLN_modulation"]["bias"], state["adaLN_modulation.1.bias"])
    np.testing.assert_array_equal(params["params"]["embedding"], state["embedding.weight"])
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(params))

    missing = {k: v for k, v in state.items() if k != "value.2.bias"}
    with pytest.raises(DataError, match=r"value\.2\.bias"):
        subagent_params(missing)
    with pytest.raises(DataError, match=r"head\.weight"):
        subagent_params({**state, "head.weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(DataError, match=r"advantage\.0\.weight"):
        subagent_params({**state, "advantage.0.weight": state["advantage.0.weight"][:, :10]})
    with pytest.raises(DataError, match=r"fc1\.weight"):
        subagent_params(state, single_dim=40)
    with pytest.raises(DataError, match="agent 'slope_9'"):
        read_npz_export(reference_file("macrohft_eth_subagents.npz"), "slope_9")
    with pytest.raises(ConfigError):
        load_reference_subagent(reference_file("macrohft_eth_subagents.npz"))
