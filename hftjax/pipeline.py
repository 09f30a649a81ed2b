"""``hftjax run``: synth (or given files) -> prepare -> sub-agents (and the learned baselines)
-> hyper-agent -> evaluation,
all in one run directory that holds the resolved config (``config.json``), checkpoints, logs and
results. The configuration is one ``RunConfig`` (``hftjax.run_config``; presets in
``hftjax.presets``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hftjax.baselines.run import train_baselines
from hftjax.errors import ConfigError, DataError, RunDirError
from hftjax.evaluate import evaluate
from hftjax.features import CONTEXT_WINDOW
from hftjax.hyper.run import train_hyper
from hftjax.io import write_json
from hftjax.prepare import PrepareConfig, prepare
from hftjax.progress import stages
from hftjax.provenance import check_sources, read_manifest, stale_preparation
from hftjax.run_config import RunConfig
from hftjax.rundir import TRAINED, claim_run_dir, first_unfinished, run_lock
from hftjax.splits import DEFAULT_FRACTIONS, parse_splits
from hftjax.subagent.run import train_subagents
from hftjax.synth import synth_settings, write_market

log = logging.getLogger(__name__)


def run_pipeline(out: str | Path, config: RunConfig = RunConfig(), *, progress: bool = True,
                 resume_from: int | None = None) -> dict:
    """Run every stage into ``out`` (resuming what is done); returns {split: metrics}.
    ``resume_from`` N resumes the first unfinished training stage from its checkpoint after N
    epochs (0: starts it over), as ``train-* --resume-from`` does.

    Every check that can be made before training runs before anything is written, and
    ``config.json`` is written only once the data is prepared: a refused command leaves nothing
    that blocks the corrected rerun."""
    check_before_writing(config)
    out = claim_run_dir(out)
    with run_lock(out):
        resolved = config.to_json()
        if (out / "config.json").exists():
            earlier = json.loads((out / "config.json").read_text())
            changed = sorted(f"{s}.{k}" for s in resolved for k in resolved[s]
                             if earlier.get(s, {}).get(k) != resolved[s][k])
            if changed:
                raise RunDirError(out, f"holds a run made with other settings (differs in {', '.join(changed)}); "
                                       "give --out a new directory")
        # stage times are logged (hftjax -v); each training stage has its own progress bar
        with stages("run", 6, enabled=False) as advance:
            metrics = _stages(out, config, progress, advance, resume_from)
    return metrics


# what a finished stage leaves in a run directory, in the order the stages run
FINISHED = (("data/manifest.json", "prepared data"), *TRAINED)


def say_reused(out: Path) -> None:
    """A rerun into a run directory says what it reuses and what it resumes (shown by default)."""
    reused = [f"{what} ({name})" for name, what in FINISHED if (out / name).exists()]
    resumed = [f"{what} ({name.removesuffix('.json')}_checkpoints/)" for name, what in FINISHED[1:]
               if not (out / name).exists() and (out / f"{name.removesuffix('.json')}_checkpoints").is_dir()]
    if reused or resumed:
        log.warning("%s already holds this config's run: %s; evaluation runs again (a new --out starts over)", out,
                    "; ".join([*(["reusing " + ", ".join(reused)] if reused else []),
                               *(["resuming " + ", ".join(resumed)] if resumed else [])]))


def check_before_writing(config: RunConfig) -> None:
    """What can be refused before the run directory is touched: input files, devices and
    platform, the evaluated splits and the chunk length against the synthetic market."""
    for path in config.data.inputs:
        if not Path(path).is_file():
            raise DataError("no such file (data.inputs, --data)", file=path)
    config.devices.placement()
    names = [spec.partition("=")[0] for spec in config.data.splits] or list(DEFAULT_FRACTIONS)
    unknown = [s for s in config.evaluation.splits if s not in names]
    if unknown:
        raise ConfigError("evaluation.splits", f"names {', '.join(map(repr, unknown))}, which the data will not have; "
                                               f"its splits are {', '.join(names)} (data.splits)")
    if not config.data.inputs and not config.data.splits:
        shortest = int(config.data.synthetic_rows * min(DEFAULT_FRACTIONS.values())) - CONTEXT_WINDOW
        if config.data.chunk_len > shortest:
            raise ConfigError("data.chunk_len", f"{config.data.chunk_len} is longer than the shortest split of the "
                                                f"synthetic market (about {shortest} rows after the feature warm-up "
                                                f"of {config.data.synthetic_rows} rows); lower it or raise "
                                                "data.synthetic_rows")


def _market(out: Path, data) -> list[str]:
    """The run's market files: ``data.inputs``, or the synthetic market in ``out`` (made, or
    remade before the run's config is fixed, when it is missing or has other settings)."""
    if data.inputs:
        return list(data.inputs)
    path = out / "market.parquet"
    settings = synth_settings(path)
    if path.exists() and settings is None:
        raise RunDirError(out, f"holds {path.name}, which hftjax synth did not write; move it away (the "
                               "synthetic market is written there)")
    if settings is None or (settings["rows"], settings["seed"]) != (data.synthetic_rows, data.synthetic_seed):
        if settings is not None and (out / "config.json").exists():
            raise RunDirError(out, f"{path.name} is not the synthetic market of this run's config; give --out "
                                   "a new directory")
        write_market(path, data.synthetic_rows, seed=data.synthetic_seed, force=True)
    return [str(path)]


PREPARE_OPTIONS = {"--chunk-len": "data.chunk_len", "chunk_len": "data.chunk_len", "--split": "data.splits",
                   "normalize": "data.normalize"}  # prepare's option -> the run config key


def _prepared(out: Path, inputs: list[str], request: PrepareConfig, progress: bool) -> None:
    """Reuse ``out/data`` when it holds this request, prepared from unchanged inputs by this
    hftjax; prepare it when it is missing (or is an earlier attempt's, before the config was
    fixed), or again, saying so, when another hftjax or feature version prepared it."""
    data_dir = out / "data"
    if (data_dir / "manifest.json").exists():
        manifest = read_manifest(data_dir)
        if manifest.get("request") == request.request(inputs):
            stale = stale_preparation(manifest)
            if stale is None:
                check_sources(data_dir)
                log.info("reusing the prepared data in %s (inputs unchanged)", data_dir)
                return
            trained = [name for name, _ in TRAINED if (out / name).exists()]
            if trained:  # prepared again, it would no longer be the data they were trained on
                raise RunDirError(data_dir, f"{stale}, and the stages of {', '.join(trained)} were trained on it: "
                                            "give --out a new directory, or use the hftjax that prepared it")
            log.warning("%s %s; preparing it again", data_dir, stale)
        elif (out / "config.json").exists():
            raise RunDirError(data_dir, "was prepared from other inputs or settings than this run's config (by "
                                        "another hftjax prepare?); give --out a new directory")
    try:
        prepare(inputs, data_dir, request, progress=progress)
    except ConfigError as e:  # prepare names its own options; a run's user set the data section's
        option = PREPARE_OPTIONS.get(e.option)
        if option is None:
            raise
        raise ConfigError(option, e.reason.replace("--chunk-len", "data.chunk_len").replace("--split", "data.splits")) from None


def _stages(out: Path, config: RunConfig, progress: bool, advance, resume_from: int | None) -> dict:
    data = config.data
    advance("market")
    inputs = _market(out, data)
    advance("prepare")
    _prepared(out, inputs, PrepareConfig(
        features=data.features, chunk_len=data.chunk_len, gap_policy=data.gap_policy,
        max_ffill_minutes=data.max_ffill, normalize=data.normalize,
        splits=parse_splits(list(data.splits)) if data.splits else None), progress)
    if (out / "config.json").exists():  # a rerun, past every check: say what it builds on
        say_reused(out)
    write_json(config.to_json(), out / "config.json")
    log.info("run directory %s, config in config.json", out)
    placement = config.devices.placement()

    resume = first_unfinished(out, resume_from)
    advance("sub-agents")
    train_subagents(config.subagents, out / "data", out, env=config.env, progress=progress, placement=placement,
                    resume_from=resume("subagents"))
    advance("learned baselines")
    if config.baselines.algorithms:
        train_baselines(config.baselines, config.subagents, out / "data", out, env=config.env, progress=progress,
                        placement=placement, resume=resume)
    advance("hyper-agent")
    train_hyper(out, config.hyper, progress=progress, placement=placement, resume_from=resume("hyper"))
    advance("evaluation")
    metrics = {split: evaluate(out, split, progress=progress) for split in config.evaluation.splits}
    write_json(metrics, out / "results" / "summary.json")
    return metrics
