"""Which data a result comes from: the inputs a prepared dataset was made from, and the
prepared dataset each trained stage used.

- ``fingerprint``: an input's path (as given and resolved), size, mtime and sha256, recorded in
  ``manifest.json``'s ``sources``.
- ``check_sources``: every stage that reuses prepared data refuses an input whose content
  changed since ``prepare`` read it (hashed again only when its size or mtime changed), and data
  another hftjax or feature version prepared (``stale_preparation``; ``run`` prepares it again).
- ``dataset_digest`` / ``check_trained_on``: each trained stage records the sha256 of the
  manifest it was trained on; a later stage refuses agents trained on other data (``prepare``
  run again into the same directory).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from hftjax import __version__
from hftjax.errors import DataError, RunDirError
from hftjax.features import FEATURE_VERSION
from hftjax.rundir import read_record


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(path: str | os.PathLike) -> dict:
    if not Path(path).is_file():
        raise DataError("no such file", file=str(path))
    stat = os.stat(path)
    return {"path": str(path), "resolved": str(Path(path).resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)}


def _changed(source: dict) -> bool:
    stat = os.stat(source["resolved"])
    if stat.st_size == source["size"] and stat.st_mtime_ns == source["mtime_ns"]:
        return False
    return sha256_file(source["resolved"]) != source["sha256"]


def read_manifest(data_dir: str | os.PathLike) -> dict:
    path = Path(data_dir) / "manifest.json"
    if not path.exists():
        raise RunDirError(data_dir, "is not a prepared dataset (no manifest.json): run "
                                    f"hftjax prepare INPUT... --out {data_dir} first")
    return read_record(path)


def stale_preparation(manifest: dict) -> str | None:
    """What makes a prepared dataset's features other than this hftjax computes (another hftjax
    or ``FEATURE_VERSION`` wrote it), or None."""
    version, features = manifest.get("hftjax_version", "unknown"), manifest.get("feature_version", "unknown")
    if (version, features) == (__version__, FEATURE_VERSION):
        return None
    return (f"was prepared by hftjax {version} (feature version {features}), not by this hftjax {__version__} "
            f"(feature version {FEATURE_VERSION})")


def check_sources(data_dir: str | os.PathLike) -> None:
    """Refuse when another hftjax or feature version prepared the dataset, or an input of it
    changed since ``prepare`` read it; warn when one can no longer be found (it cannot be checked)."""
    manifest = read_manifest(data_dir)
    stale = stale_preparation(manifest)
    if stale is not None:
        raise RunDirError(data_dir, f"{stale}: run hftjax prepare again into it and retrain what was trained on "
                                    "it (hftjax run --out NEW does both), or use the hftjax that prepared it")
    for source in manifest.get("sources", []):
        if "resolved" not in source:  # a dataset prepared before inputs were fingerprinted
            continue
        if not Path(source["resolved"]).is_file():
            warnings.warn(f"{source['resolved']}: an input of {data_dir} is gone; its content cannot be checked",
                          stacklevel=2)
        elif _changed(source):
            raise DataError(f"changed since hftjax prepare read it into {data_dir} (sha256 differs); run "
                            "hftjax prepare again, into a new --out, and train on that", file=source["resolved"])


def dataset_digest(data_dir: str | os.PathLike) -> str:
    """The sha256 of the prepared dataset's manifest (which holds its inputs' hashes and every
    preparation parameter)."""
    read_manifest(data_dir)
    return sha256_file(Path(data_dir) / "manifest.json")


def check_trained_on(data_dir: str | os.PathLike, recorded: str | None, what: str, retrain: str) -> None:
    """Refuse a stage trained on another preparation of ``data_dir`` than the one there now
    (``recorded`` None: trained before digests were recorded, nothing to check)."""
    if recorded is not None and recorded != dataset_digest(data_dir):
        raise RunDirError(data_dir, f"was prepared again after the {what} were trained on it (manifest sha256 "
                                    f"differs from the one recorded at training); retrain them ({retrain}) or "
                                    "use the data they were trained on")
