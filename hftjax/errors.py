"""Errors that name exactly what is wrong: the file, row and column, the option, the run
directory or the training member. Every one is a :class:`UserError`: the command line prints
it as one line (``-v`` adds the traceback)."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what."""


class DataError(UserError, ValueError):
    """Bad input data. ``row`` is the 0-based index of the data row (header excluded)."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.file, self.row, self.column, self.reason = file, row, column, message
        where = [str(file) if file is not None else "<table>"]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


class ConfigError(UserError, ValueError):
    """A bad option or configuration value; names the option."""

    def __init__(self, option: str, message: str):
        self.option, self.reason = option, message
        super().__init__(f"option {option!r}: {message}")


class RunDirError(UserError):
    """A directory that cannot be used as asked: not ours, locked, missing a stage, or holding
    an unreadable checkpoint. Names the directory and says what to run or fix."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class DivergenceError(UserError, RuntimeError):
    """Training produced a non-finite loss, gradient or parameter; names the member and epoch."""

    def __init__(self, member: str, epoch: int, message: str):
        self.member, self.epoch = member, epoch
        super().__init__(f"training diverged for {member} in epoch {epoch}: {message}")


class Interrupted(Exception):
    """Training stopped on Ctrl-C after a whole, checkpointed epoch (not a mistake: exit 130)."""

    def __init__(self, what: str, epochs_done: int):
        super().__init__(f"interrupted at epoch {epochs_done} of {what} training (checkpoint {epochs_done} is "
                         "saved); rerun the same command to resume")
