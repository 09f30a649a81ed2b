"""One process of ``test_sharding.py::test_two_processes_agree``: joins the others through
``jax.distributed`` on localhost with 2 CPU devices, runs one sharded sub-agent epoch over every
process's devices, and saves the gathered parameters.

    python tests/sharding_worker.py PORT PROCESS_ID NUM_PROCESSES DATA_DIR OUT.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax

if __name__ == "__main__":
    port, process_id, processes, data_dir, out = sys.argv[1:]
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", 2)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # cross-process gathers on CPU
    jax.distributed.initialize(f"localhost:{port}", num_processes=int(processes), process_id=int(process_id))
    assert jax.device_count() == 2 * int(processes) and jax.local_device_count() == 2

    import numpy as np

    from hftjax.sharding import Placement, host_values
    from test_sharding import one_subagent_epoch

    state, metrics = one_subagent_epoch(Path(data_dir), Placement.over(0))
    leaves = jax.tree.leaves(host_values((state.params, metrics)))
    np.savez(out, *leaves)
    jax.distributed.shutdown()
