"""Spreading a population over devices with ``jax.sharding``.

A population (sub-agents: agents x seeds x sweep values; a learned baseline's members; the
hyper-agent's seeds; a batch of parallel episodes) is a pytree whose leaves all lead with the
member axis. :class:`Placement` splits that axis over a 1-D mesh (axis ``population``) and
replicates what every member reads (markets, teachers, trading settings). Members never talk to
each other, so the jitted epoch partitions without collectives, each device keeps its members'
replay buffers and memories, and the results equal one device's.

``devices.count`` (the run config) or ``--devices``: 1, the default, keeps everything on JAX's
default device (committed to it, as the epochs' outputs are, so the first epoch's call and the
later ones share one compiled program); N uses the first N devices; 0 every device JAX sees, which after
``jax.distributed.initialize`` (see the README) means every process's. A population whose size
does not divide over the devices is refused, naming the option: padding would train members
nobody asked for.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hftjax.errors import ConfigError

AXIS = "population"


@dataclasses.dataclass(frozen=True)
class Placement:
    mesh: Mesh | None = None  # None: JAX's default device

    @classmethod
    def over(cls, count: int) -> Placement:
        """The first ``count`` devices (0: all of them); 1 gives the default placement."""
        devices = jax.devices()
        if count > len(devices):
            raise ConfigError("devices.count", f"asks for {count} devices but JAX sees {len(devices)} "
                                               f"({devices[0].platform}); use 0 for all of them")
        chosen = devices if count == 0 else devices[:count]
        return cls(None if len(chosen) == 1 else Mesh(np.array(chosen), (AXIS,)))

    @property
    def size(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def members(self, tree):
        """``tree`` with its leading (member) axis split over the devices."""
        if self.mesh is None:
            return jax.device_put(tree, jax.devices()[0])
        count = len(jax.tree.leaves(tree)[0])
        if count % self.size:
            raise ConfigError("devices.count", f"{count} population members do not divide over {self.size} devices; "
                                               f"choose a device count that divides {count} (or change seeds or sweep)")
        return self._put(tree, PartitionSpec(AXIS))

    def replicated(self, tree):
        """``tree`` copied to every device."""
        return jax.device_put(tree, jax.devices()[0]) if self.mesh is None else self._put(tree, PartitionSpec())

    def _put(self, tree, spec: PartitionSpec):
        sharding = NamedSharding(self.mesh, spec)
        if jax.process_count() == 1:
            return jax.device_put(tree, sharding)
        # several processes: every process holds the same host values, each puts its own shards
        def put(x):
            if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
            x = np.asarray(x)
            return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
        return jax.tree.map(put, tree)


def host_values(tree):
    """``tree`` as NumPy arrays on this host, whatever devices or processes hold it (random
    keys as their raw data)."""
    def one(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)
    return jax.tree.map(one, tree)
