"""``hftjax compare RUN_DIR...``: several evaluated runs (and their seeds) as one table, mean ±
sample std over every seed of every run, in Markdown and CSV. Runs whose test splits differ (rows,
period, fee or position size) are refused: their numbers would not be comparable. Runs are
pooled as seeds of one experiment only when their resolved configs differ in nothing but the
seeds (``allow_different`` pools them anyway and says which keys differ); a directory named
twice (``RUN`` and ``RUN/``) counts once, and so does a member two directories hold (a copied run:
the same config, seed and data), with a line that says so. ``--out`` gets hftjax's mark when
compare creates it (or finds it empty); a ``compare.md`` or ``compare.csv`` elsewhere is replaced
only with ``force``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable

import numpy as np

from hftjax.errors import ConfigError, RunDirError
from hftjax.io import write_text
from hftjax.paths import check_writable
from hftjax.report import COLUMNS, cell
from hftjax.rundir import mark, marked, read_record
from hftjax.strategies import strategies

SAME = ("split", "rows", "period", "fee", "max_holding")  # what makes two test results comparable
FILES = ("compare.md", "compare.csv")


def load_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "results" / "metrics.json"
    if not path.exists():
        raise RunDirError(run_dir, f"has no {path.relative_to(run_dir)}: run hftjax evaluate {run_dir} first")
    return json.loads(path.read_text())


def trained_records(run_dir: str | Path) -> tuple[dict, Path, dict]:
    """(``hyper.json``, the sub-agents' run directory it names, that run's ``subagents.json``);
    a record that is not there is ``{}``."""
    run_dir = Path(run_dir)
    hyper = read_record(run_dir / "hyper.json") if (run_dir / "hyper.json").exists() else {}
    subagents = run_dir / hyper.get("subagents", ".")
    trained = read_record(subagents / "subagents.json") if (subagents / "subagents.json").exists() else {}
    return hyper, subagents, trained


def recorded_config(run_dir: str | Path) -> dict:
    """The sections a run was trained with: ``config.json`` of ``hftjax run``, else the stages' own
    records (``hyper.json``, and ``subagents.json`` of the sub-agents' run it names)."""
    if (Path(run_dir) / "config.json").exists():
        return read_record(Path(run_dir) / "config.json")
    hyper, _, trained = trained_records(run_dir)
    config = {"hyper": hyper["config"]} if hyper else {}
    if trained:
        config["subagents"], config["env"] = trained["config"], trained["env"]
    return config


def resolved_config(run_dir: str | Path) -> dict:
    """What a run was trained with as dotted keys, seeds left out."""
    return {f"{section}.{k}": v for section, values in recorded_config(run_dir).items() if isinstance(values, dict)
            for k, v in values.items() if k != "seeds"}


PATHS = ("data.inputs",)  # where the market files were: the prepared data says what they held


def settings(run_dir: str | Path) -> dict:
    """The resolved config that decides a run's result: seeds and paths aside."""
    return {k: v for k, v in resolved_config(run_dir).items() if k not in PATHS}


def prepared_data(run_dir: str | Path) -> str | None:
    """What a run was trained on, wherever its files lie: the inputs' sha256 and how they were
    prepared, from the manifest of its prepared data (paths and times left out); else the
    manifest's digest recorded in ``hyper.json``; None when neither is there."""
    hyper, subagents, trained = trained_records(run_dir)
    try:
        manifest = json.loads((subagents / trained["data_dir"] / "manifest.json").read_text())
        return json.dumps({"sources": [source["sha256"] for source in manifest["sources"]],
                           **{k: manifest.get(k) for k in ("hftjax_version", "feature_set", "feature_version",
                                                           "parameters", "market")}}, sort_keys=True)
    except (OSError, ValueError, KeyError, TypeError):
        return hyper.get("dataset_sha256")


def member_identity(run_dir: str | Path) -> Callable[[int], str]:
    """``seed -> identity`` of a run's members: two runs' members are one member exactly when they
    have the same config (seeds and paths aside), prepared data, seed and sub-agents' seed (a
    hyper-agent mixes the lowest one trained when its own is not)."""
    config = settings(run_dir)
    data = prepared_data(run_dir) or str(Path(run_dir).resolve())  # unrecorded: matches no other run
    trained = recorded_config(run_dir).get("subagents", {}).get("seeds") or []

    def identity(seed: int) -> str:
        mixed = seed if seed in trained or not trained else min(trained)
        return json.dumps([config, data, seed, mixed], sort_keys=True)
    return identity


def config_differences(run_dirs: list[str]) -> list[str]:
    """The dotted config keys (seeds and paths aside) in which any run differs from the first, and
    ``prepared data`` when a run was trained on other data (other inputs or preparation)."""
    configs = [settings(d) for d in run_dirs]
    differs = {k for c in configs[1:] for k in c.keys() | configs[0].keys() if c.get(k) != configs[0].get(k)}
    data = [prepared_data(d) for d in run_dirs]
    if any(None not in (d, data[0]) and d != data[0] for d in data[1:]):
        differs.add("prepared data")
    return sorted(differs)


def merge(runs: dict[str, dict], identities: dict[str, Callable[[int], str]]) -> tuple[dict, dict[str, str]]:
    """(One metrics-like dict, the repeats): every seeded strategy's per-seed entries of all runs
    (named ``RUN:seed``), a member that another run already holds (a copied directory) counted
    once and listed in the repeats (``RUN:seed`` -> the one it repeats); deterministic ones (buy and
    hold, MACD) once."""
    names = list(runs)
    first = runs[names[0]]
    for name in names[1:]:
        differs = [k for k in SAME if runs[name].get(k) != first.get(k)]
        if differs:
            raise RunDirError(name, f"was tested on another split than {names[0]} (differs in {', '.join(differs)}); "
                                    "compare runs of the same test data")
    merged, repeats = {k: first.get(k) for k in SAME}, {}
    for key, _ in strategies(first):
        if not all(key in m for m in runs.values()):
            continue
        if "per_seed" in first[key]:
            seen: dict[str, str] = {}  # member identity -> the RUN:seed that holds it
            for name, m in runs.items():
                for s in m[key]["per_seed"]:
                    label = f"{name}:{s['seed']}"
                    holder = seen.setdefault(identities[name](s["seed"]), label)
                    if holder != label:
                        repeats[label] = holder
            merged[key] = {"per_seed": [{**s, "seed": f"{name}:{s['seed']}"} for name, m in runs.items()
                                        for s in m[key]["per_seed"] if f"{name}:{s['seed']}" not in repeats]}
        else:
            merged[key] = first[key]
    return merged, repeats


def sample_std(values: np.ndarray) -> float:
    """The sample standard deviation (ddof 1), 0 for one value."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def tables(merged: dict) -> tuple[str, str]:
    """(Markdown, CSV) of the merged strategies."""
    header = ["strategy", "seeds", *(c[1] for c in COLUMNS)]
    md = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["strategy", "seeds", *(f"{c[0]}_{stat}" for c in COLUMNS for stat in ("mean", "std"))])
    for key, label in strategies(merged):
        entry = merged[key]
        seeds = entry.get("per_seed", [entry])
        md.append(f"| {label} | {len(seeds)} | " + " | ".join(cell(entry, m, s, d) for m, _, s, d in COLUMNS) + " |")
        values = [np.array([x[m] for x in seeds], np.float64) for m, *_ in COLUMNS]
        writer.writerow([label, len(seeds), *(f"{f(v):.10g}" for v in values for f in (np.mean, sample_std))])
    return "\n".join(md) + "\n", out.getvalue()


def write_tables(out: Path, texts: tuple[str, str]) -> None:
    """``FILES`` into ``out``, which is created and marked as compare's own when new or empty."""
    if not out.is_dir() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        mark(out, "compare")
    for name, text in zip(FILES, texts):
        write_text(text, out / name)


def compare(run_dirs: list[str | Path], out: str | Path | None = None, *, allow_different: bool = False,
            force: bool = False) -> str:
    """The Markdown table; with ``out``, also ``out/compare.md`` and ``out/compare.csv``."""
    if out is not None:  # refused before any run is read
        out = Path(out)
        for name in FILES:
            check_writable(out / name, lambda p: marked(p.parent, "compare"), force=force)
    unique: dict[Path, str] = {}
    for d in run_dirs:
        unique.setdefault(Path(d).resolve(), str(d))
    names = list(unique.values())
    metrics = {name: load_metrics(name) for name in names}
    differs = config_differences(names)
    note = ""
    if differs and not allow_different:
        raise ConfigError("run_dirs", f"the runs were made with other settings (differ in {', '.join(differs)}), so "
                                      "their seeds are not one experiment's; compare runs that differ only in seeds, "
                                      "or pass --allow-different to pool them anyway")
    if differs:
        note = f"Pooled runs of different settings (differ in {', '.join(differs)}).\n\n"
    merged, repeats = merge(metrics, {name: member_identity(name) for name in names})
    if repeats:
        note += ("Counted once: " + "; ".join(f"{label} repeats {original}" for label, original in repeats.items())
                 + " (the same config, seed and data).\n\n")
    counted = len({s["seed"].rpartition(":")[0] for key, _ in strategies(merged) for s in merged[key].get("per_seed", [])})
    markdown, table = tables(merged)
    title = (f"# {counted} run{'s' * (counted != 1)} on the {merged['split']} split ({merged['rows']:,} rows, "
             f"{merged['period'][0]} to {merged['period'][1]})\n\n" if merged.get("period") else "")
    if out is not None:
        write_tables(out, (title + note + markdown, table))
    return title + note + markdown
