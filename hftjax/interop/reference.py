"""Import the released MacroHFT (PyTorch) sub-agent checkpoints without torch.

``read_torch_state_dict`` reads a PyTorch zip-format state dict (``torch.save`` since 1.6):
the pickled ``<top>/data.pkl`` is unpickled with a restricted unpickler that only knows
``collections.OrderedDict``, torch's tensor/parameter rebuild functions and the typed storage
names, so no pickled code is ever executed; each storage is the raw little-endian bytes of
``<top>/data/<key>``. Device tags (``cuda:0`` ...) are ignored: everything lands in numpy.

``subagent_params`` maps the torch parameter names of the reference sub-agent to the Flax
tree of :class:`hftjax.subagent.network.SubAgentNet` (kernels transposed to (in, out));
``hyperagent_params`` does the same for :class:`hftjax.hyper.network.HyperAgentNet`, and
``load_reference_hyperagent`` reads the parity fixture's ``hyperagent/param/<torch name>`` arrays.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from hftjax.errors import ConfigError, DataError

__all__ = ["read_torch_state_dict", "read_npz_export", "subagent_params", "load_reference_subagent",
           "hyperagent_params", "load_reference_hyperagent", "SUBAGENT_NAME_MAP", "HYPERAGENT_NAME_MAP",
           "HYPERAGENT_FIXTURE_PREFIX", "STORAGE_DTYPES"]


def _bfloat16():
    try:
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    except ImportError:  # pragma: no cover - ml_dtypes ships with jax
        return None


# torch typed-storage class name -> numpy dtype (always read little-endian).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
if _bfloat16() is not None:
    STORAGE_DTYPES["BFloat16Storage"] = _bfloat16()


class _StorageType:
    """Stand-in for ``torch.<X>Storage`` in the pickle: only carries the dtype."""

    def __init__(self, name: str, dtype: np.dtype):
        self.name, self.dtype = name, dtype

    def __repr__(self):
        return f"torch.{self.name}"


class _TorchUnpickler(pickle.Unpickler):
    """Unpickler for ``data.pkl`` that resolves only a whitelist of globals."""

    def __init__(self, file, archive: zipfile.ZipFile, top: str, source: str):
        super().__init__(file)
        self._archive, self._top, self._source = archive, top, source
        self._storages: dict[str, np.ndarray] = {}
        self._little_endian = True
        byteorder = f"{top}/byteorder"
        if byteorder in archive.namelist():
            self._little_endian = archive.read(byteorder).strip() != b"big"

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module == "torch._utils":
            rebuild = {"_rebuild_tensor_v2": self._rebuild_tensor_v2,
                       "_rebuild_parameter": self._rebuild_parameter,
                       "_rebuild_parameter_with_state": self._rebuild_parameter_with_state}.get(name)
            if rebuild is not None:
                return rebuild
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        raise DataError(f"checkpoint pickle references the disallowed global {module}.{name}; "
                        "only PyTorch tensor state dicts can be read", file=self._source)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 4 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise DataError(f"unsupported persistent id in checkpoint pickle: {pid!r}", file=self._source)
        storage_type, key = pid[1], str(pid[2])
        numel = int(pid[4]) if len(pid) > 4 else None
        if key in self._storages:
            return self._storages[key]
        entry = f"{self._top}/data/{key}"
        try:
            raw = self._archive.read(entry)
        except KeyError:
            raise DataError(f"storage {key!r} missing from the checkpoint ({entry})", file=self._source) from None
        dtype = storage_type.dtype
        if not self._little_endian:
            dtype = dtype.newbyteorder(">")
        if len(raw) % dtype.itemsize:
            raise DataError(f"storage {key!r} has {len(raw)} bytes, not a multiple of "
                            f"{dtype.itemsize} ({storage_type})", file=self._source)
        array = np.frombuffer(raw, dtype=dtype)
        if numel is not None and array.size != numel:
            raise DataError(f"storage {key!r} holds {array.size} elements, the pickle says {numel}",
                            file=self._source)
        array = array.astype(dtype.newbyteorder("<"), copy=False) if not self._little_endian else array
        self._storages[key] = array
        return array

    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                           backward_hooks=None, metadata=None):
        if not isinstance(storage, np.ndarray):
            raise DataError(f"tensor storage is not a storage: {storage!r}", file=self._source)
        try:
            offset, shape, strides = int(storage_offset), tuple(int(s) for s in size), tuple(int(s) for s in stride)
        except (TypeError, ValueError):
            raise DataError(f"bad tensor geometry: offset {storage_offset!r}, size {size!r}, stride {stride!r}",
                            file=self._source) from None
        if len(shape) != len(strides) or offset < 0 or any(s < 0 for s in shape) or any(s < 0 for s in strides):
            raise DataError(f"bad tensor geometry: offset {offset}, size {shape}, stride {strides}", file=self._source)
        if 0 in shape:
            return np.zeros(shape, storage.dtype)
        last = offset + sum((n - 1) * s for n, s in zip(shape, strides))
        if last >= storage.size:
            raise DataError(f"tensor of size {shape}, stride {strides} at offset {offset} overruns its "
                            f"storage of {storage.size} elements", file=self._source)
        # A zero (or overlapping) stride repeats storage elements: a parameter never does, and the
        # copy below would allocate the whole repeated size (terabytes from a few bytes of pickle).
        if math.prod(shape) > storage.size - offset:
            raise DataError(f"tensor of size {shape}, stride {strides} at offset {offset} has more elements "
                            f"than its storage of {storage.size} holds (a zero or overlapping stride); a state "
                            "dict's tensors never repeat elements", file=self._source)
        itemsize = storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=shape,
                                               strides=tuple(s * itemsize for s in strides), writeable=False)
        return view.copy(order="C")

    def _rebuild_parameter(self, data, requires_grad=False, backward_hooks=None):
        return data

    def _rebuild_parameter_with_state(self, data, requires_grad=False, backward_hooks=None, state=None):
        return data


def read_torch_state_dict(path) -> dict[str, np.ndarray]:
    """Read a PyTorch zip-format state dict into ``{name: numpy array}``, without torch.

    Raises :class:`DataError` for anything that is not a readable tensor state dict,
    including pickles that reference any global outside the whitelist (nothing is executed).
    """
    path = Path(path)
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(f"not a PyTorch zip-format checkpoint ({exc})", file=source) from None
    with archive:
        names = archive.namelist()
        if not names:
            raise DataError("empty zip archive, not a PyTorch checkpoint", file=source)
        top = names[0].split("/", 1)[0]
        data_pkl = f"{top}/data.pkl"
        if data_pkl not in names:
            raise DataError(f"no {data_pkl} in the archive, not a PyTorch zip-format checkpoint", file=source)
        try:
            payload = archive.read(data_pkl)
            unpickler = _TorchUnpickler(io.BytesIO(payload), archive, top, source)
            state = unpickler.load()
        except DataError:
            raise
        except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, ValueError, TypeError, KeyError,
                AttributeError, IndexError, OSError, RuntimeError) as exc:
            raise DataError(f"corrupt checkpoint: {type(exc).__name__}: {exc}", file=source) from None
    if not isinstance(state, dict):
        raise DataError(f"checkpoint holds a {type(state).__name__}, not a state dict", file=source)
    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise DataError(f"state dict entry {name!r} is not a named tensor", file=source)
        out[name] = value
    return out


def read_npz_export(path, agent: str) -> dict[str, np.ndarray]:
    """The arrays ``<agent>/<torch name>`` of an npz export, keyed by torch name."""
    path = Path(path)
    prefix = f"{agent}/"
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = list(npz.files)
            out = {key[len(prefix):]: np.asarray(npz[key]) for key in files if key.startswith(prefix)}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise DataError(f"not a readable npz file ({exc})", file=str(path)) from None
    if not out:
        agents = sorted({key.split("/", 1)[0] for key in files if "/" in key})
        raise DataError(f"no arrays for agent {agent!r}; agents present: {agents}", file=str(path))
    return out


# torch module prefix -> Flax submodule name of SubAgentNet.
SUBAGENT_NAME_MAP = {
    "fc1": "fc1",
    "fc2": "fc2",
    "adaLN_modulation.1": "adaLN_modulation",
    "value.0": "value_hidden",
    "value.2": "value_out",
    "advantage.0": "advantage_hidden",
    "advantage.2": "advantage_out",
}
_IGNORED = ("max_punish",)


def _check_names(state_dict: dict, expected: set, what: str, source, ignored=_IGNORED) -> dict[str, np.ndarray]:
    """The expected arrays of ``state_dict`` as numpy; unexpected/missing names or a non-float dtype raise."""
    unexpected = sorted(set(state_dict) - set(expected) - set(ignored))
    if unexpected:
        raise DataError(f"unexpected parameter(s) {unexpected} in the {what} state dict", file=source,
                        column=unexpected[0])
    missing = sorted(set(expected) - set(state_dict))
    if missing:
        raise DataError(f"missing parameter(s) {missing} in the {what} state dict", file=source, column=missing[0])
    arrays = {name: np.asarray(state_dict[name]) for name in expected}
    for name, array in arrays.items():
        if not (np.issubdtype(array.dtype, np.floating) or array.dtype.name == "bfloat16"):
            raise DataError(f"parameter {name!r} has dtype {array.dtype}, expected floating point",
                            file=source, column=name)
    return arrays


def _matrix_dim(arrays: dict, name: str, axis: int, source) -> int:
    array = arrays[name]
    if array.ndim != 2:
        raise DataError(f"parameter {name!r} has shape {array.shape}, expected a 2-d matrix",
                        file=source, column=name)
    return array.shape[axis]


def _check_shapes(arrays: dict, shapes: dict, source) -> None:
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise DataError(f"parameter {name!r} has shape {arrays[name].shape}, expected {shape}",
                            file=source, column=name)


def _flax_tree(arrays: dict, name_map: dict) -> dict:
    """``{"params": ...}`` with float32 leaves: the embedding plus one (kernel (in, out), bias) per layer."""
    import jax.numpy as jnp

    def f32(array):
        return jnp.asarray(np.asarray(array, dtype=np.float32))

    params: dict = {"embedding": f32(arrays["embedding.weight"])}
    for torch_name, flax_name in name_map.items():
        params[flax_name] = {"kernel": f32(arrays[f"{torch_name}.weight"].T),
                             "bias": f32(arrays[f"{torch_name}.bias"])}
    return {"params": params}


def subagent_params(state_dict: dict, *, file=None, single_dim: int | None = None, trend_dim: int | None = None,
                    hidden: int | None = None, levels: int | None = None) -> dict:
    """Map a reference sub-agent state dict to ``{"params": ...}`` for ``SubAgentNet``.

    Dimensions not given are taken from the state dict (hidden and the input sizes from the
    fc1/fc2 weights, levels from the embedding); every shape is then checked against them.
    Missing or unexpected names and wrong shapes raise :class:`DataError` naming the parameter.
    """
    source = None if file is None else str(file)
    expected_names = {f"{t}.{p}" for t in SUBAGENT_NAME_MAP for p in ("weight", "bias")} | {"embedding.weight"}
    arrays = _check_names(state_dict, expected_names, "sub-agent", source)

    h = hidden if hidden is not None else _matrix_dim(arrays, "fc1.weight", 0, source)
    fs = single_dim if single_dim is not None else _matrix_dim(arrays, "fc1.weight", 1, source)
    ft = trend_dim if trend_dim is not None else _matrix_dim(arrays, "fc2.weight", 1, source)
    lv = levels if levels is not None else _matrix_dim(arrays, "embedding.weight", 0, source)
    shapes = {
        "fc1.weight": (h, fs), "fc1.bias": (h,),
        "fc2.weight": (h, ft), "fc2.bias": (h,),
        "embedding.weight": (lv, h),
        "adaLN_modulation.1.weight": (2 * h, h), "adaLN_modulation.1.bias": (2 * h,),
        "value.0.weight": (4 * h, h), "value.0.bias": (4 * h,),
        "value.2.weight": (1, 4 * h), "value.2.bias": (1,),
        "advantage.0.weight": (4 * h, h), "advantage.0.bias": (4 * h,),
        "advantage.2.weight": (lv, 4 * h), "advantage.2.bias": (lv,),
    }
    _check_shapes(arrays, shapes, source)
    return _flax_tree(arrays, SUBAGENT_NAME_MAP)


def load_reference_subagent(path, agent: str | None = None) -> dict:
    """Load a reference sub-agent as ``SubAgentNet`` params.

    ``.pkl``/``.pt``/``.pth``: a PyTorch checkpoint; ``.npz``: the npz export, where ``agent``
    (e.g. ``"slope_1"``) picks the ``<agent>/...`` arrays.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if agent is None:
            raise ConfigError("agent", f"an agent name (e.g. 'slope_1') is needed to read {path}")
        state = read_npz_export(path, agent)
    elif suffix in (".pkl", ".pt", ".pth"):
        state = read_torch_state_dict(path)
    else:
        raise DataError(f"unknown checkpoint type {suffix!r}; expected .pkl, .pt, .pth or .npz", file=str(path))
    return subagent_params(state, file=path if agent is None else f"{path}[{agent}]")


# --- the hyper-agent ------------------------------------------------------------------------------

# torch module prefix -> Flax submodule name of HyperAgentNet (``embedding.weight`` -> ``embedding``).
HYPERAGENT_NAME_MAP = {
    "fc1": "fc1",
    "fc2": "fc2",
    "adaLN_modulation.1": "adaLN_modulation",
    "net.0": "net_hidden",
    "net.2": "net_out",
}
_CONTEXT_LAYERS = ("fc2", "adaLN_modulation.1")
HYPERAGENT_FIXTURE_PREFIX = "hyperagent/param"


def hyperagent_params(state_dict: dict, *, file=None, context: bool = True, input_dim: int | None = None,
                      context_dim: int | None = None, hidden: int | None = None, levels: int | None = None,
                      num_agents: int | None = None) -> dict:
    """Map a reference hyper-agent state dict to ``{"params": ...}`` for ``HyperAgentNet``.

    ``input_dim`` is the width of fc1's input, single + trend features (36 + 9 = 45 for the
    reference). Dimensions not given are taken from the state dict (hidden and input_dim from
    fc1, context_dim from fc2, levels from the embedding, num_agents from ``net.2``); every shape
    is then checked against them. ``context=False`` maps the ablation net, which has no ``fc2``
    and ``adaLN_modulation.1`` (their presence is then an error). Missing or unexpected names and
    wrong shapes raise :class:`DataError` naming the parameter.
    """
    source = None if file is None else str(file)
    name_map = {t: f for t, f in HYPERAGENT_NAME_MAP.items() if context or t not in _CONTEXT_LAYERS}
    expected_names = {f"{t}.{p}" for t in name_map for p in ("weight", "bias")} | {"embedding.weight"}
    arrays = _check_names(state_dict, expected_names, "hyper-agent", source, ignored=())

    h = hidden if hidden is not None else _matrix_dim(arrays, "fc1.weight", 0, source)
    fi = input_dim if input_dim is not None else _matrix_dim(arrays, "fc1.weight", 1, source)
    lv = levels if levels is not None else _matrix_dim(arrays, "embedding.weight", 0, source)
    na = num_agents if num_agents is not None else _matrix_dim(arrays, "net.2.weight", 0, source)
    shapes = {
        "fc1.weight": (h, fi), "fc1.bias": (h,),
        "embedding.weight": (lv, h),
        "net.0.weight": (4 * h, 2 * h), "net.0.bias": (4 * h,),
        "net.2.weight": (na, 4 * h), "net.2.bias": (na,),
    }
    if context:
        fc = context_dim if context_dim is not None else _matrix_dim(arrays, "fc2.weight", 1, source)
        shapes.update({"fc2.weight": (h, fc), "fc2.bias": (h,),
                       "adaLN_modulation.1.weight": (4 * h, h), "adaLN_modulation.1.bias": (4 * h,)})
    _check_shapes(arrays, shapes, source)
    return _flax_tree(arrays, name_map)


def load_reference_hyperagent(path, prefix: str = HYPERAGENT_FIXTURE_PREFIX) -> dict:
    """Load a reference hyper-agent as ``HyperAgentNet`` params.

    ``.npz``: the arrays ``<prefix>/<torch name>`` (default ``hyperagent/param/...``, as stored in
    the parity fixture ``macrohft_eth_parity.npz``); ``.pkl``/``.pt``/``.pth``: a PyTorch state dict.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        state = read_npz_export(path, prefix.rstrip("/"))
        where = f"{path}[{prefix}]"
    elif suffix in (".pkl", ".pt", ".pth"):
        state, where = read_torch_state_dict(path), path
    else:
        raise DataError(f"unknown checkpoint type {suffix!r}; expected .pkl, .pt, .pth or .npz", file=str(path))
    return hyperagent_params(state, file=where)
