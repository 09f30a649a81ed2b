"""Paths hftjax writes: which existing files it may replace, and which names may become part of a path.

- ``check_writable``: hftjax writes a file only where it is new, where hftjax wrote the file
  there now (each writer recognises its own: the ``.hftjax`` mark of the directory it lies in,
  the metadata a synthetic market carries, a tear sheet's mark comment), or with ``--force``.
  Anything else is refused in one line naming the path: a command never replaces a user's file
  (``tearsheet --out victim.parquet``, a ``compare.csv`` of their own).
- ``check_name``: a name that is joined into output paths (a split, a table) is a plain file
  name, so ``--split ../data/train`` or an absolute one cannot write outside its folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from hftjax.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
FORCE = "pass --force to replace it, or choose another path"


def check_name(name: str, option: str) -> str:
    """``name`` when it is a plain name (letters, digits, ``_``, ``.``, ``-``, not starting with
    a dot or dash, no ``..``); else a ``ConfigError`` naming ``option``."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        raise ConfigError(option, f"{name!r} is not a plain name (letters, digits, '_', '.', '-'; no '/' or '..'): "
                                  "it becomes part of file names")
    return name


def check_writable(path: str | os.PathLike, ours: Callable[[Path], bool], *, force: bool = False,
                   option: str = "--out", remedy: str = FORCE) -> Path:
    """``path`` when hftjax may write the file there: it does not exist, ``ours(path)`` recognises
    it as a file hftjax wrote, or ``force``. Else a ``ConfigError`` naming it and ``remedy``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(option, f"{path} is a directory; give the file to write")
    if path.exists() and not force and not ours(path):
        raise ConfigError(option, f"{path} exists and hftjax did not write it; {remedy}")
    return path
