"""Errors that name exactly what is wrong: the file, row and column, or the option."""

from __future__ import annotations


class DataError(ValueError):
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


class ConfigError(ValueError):
    """A bad option or configuration value; names the option."""

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"option {option!r}: {message}")
