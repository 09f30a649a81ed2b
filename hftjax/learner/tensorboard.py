"""Per-epoch TensorBoard scalars of any trainer's members, under ``RUN/tb/<stage>/``, when
tensorboardX is installed (the ``tb`` extra); without it training logs to JSONL only.

Every number of an epoch's log line is written, tagged ``<member>/<metric>``; a member is named by
its place, agent and seed (``03_vol_1_seed0``), so a sweep's members stay apart. Open them with
``%load_ext tensorboard`` and ``%tensorboard --logdir RUN/tb`` in a notebook, or ``tensorboard
--logdir RUN/tb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

DIRECTORY = "tb"
NOT_SCALARS = ("epoch", "agent", "seed")


def member_tag(index: int, line: dict) -> str:
    return "_".join([f"{index:02d}", *([line["agent"]] if "agent" in line else []), f"seed{line['seed']}"])


def scalar_writer(run_dir: str | Path, stage: str) -> Callable[[int, list[dict]], None] | None:
    """An ``on_epoch`` callback for ``run_loop`` writing each line's numbers, or None without
    tensorboardX."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    directory = str(Path(run_dir) / DIRECTORY / stage)

    def write(epoch: int, lines: list[dict]) -> None:
        # one event file per epoch, closed at once: tensorboardX writes from a queue that only
        # ``close`` drains, and an epoch's scalars must be on disk when the epoch is
        with SummaryWriter(directory, filename_suffix=f".epoch{epoch:05d}") as writer:
            for i, line in enumerate(lines):
                for key, value in line.items():
                    if key not in NOT_SCALARS and isinstance(value, (int, float)) and not isinstance(value, bool):
                        writer.add_scalar(f"{member_tag(i, line)}/{key}", value, epoch)
    return write
