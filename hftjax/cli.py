"""hftjax: MacroHFT in JAX. Commands: synth, prepare, train-subagents, train-baselines, train-hyper, evaluate, compare, run, bench.

A user error (bad data, option or run directory) prints one line and exits with 2; -v shows the traceback."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

from hftjax.data.download import Limits
from hftjax.errors import ConfigError, Interrupted, UserError
from hftjax.prepare import CHUNK_LEN
from hftjax.progress import bar
from hftjax.presets import PRESETS


def _synth(args: argparse.Namespace) -> None:
    from hftjax.synth import write_market

    if args.seed < 0:  # numpy's generators take only non-negative seeds
        raise ConfigError("--seed", f"must be an integer >= 0, got {args.seed}")
    write_market(args.out, args.rows, args.seed, force=args.force)
    print(f"wrote {args.rows:,} synthetic 1-minute bars with a 5-level book to {args.out}")


def _prepare(args: argparse.Namespace) -> None:
    from hftjax.prepare import PrepareConfig, prepare
    from hftjax.splits import parse_splits

    config = PrepareConfig(features=args.features, chunk_len=args.chunk_len,
                           splits=parse_splits(args.split) if args.split else None,
                           gap_policy=args.gap_policy, max_ffill_minutes=args.max_ffill, normalize=args.normalize)
    manifest = prepare(args.inputs, args.out, config, progress=not args.quiet)
    print(f"prepared {manifest['feature_set']} features into {args.out}")
    for name, s in manifest["splits"].items():
        counts = ", ".join(f"{k} {v}" for k, v in s["label_counts"].items())
        print(f"  {name:<6} {s['rows']:>9,} rows  {s['chunks']:>4} chunks  labels: {counts}")


def _placement(args: argparse.Namespace):
    from hftjax.run_config import DevicesConfig

    return DevicesConfig(count=args.devices).placement()


def _train_subagents(args: argparse.Namespace) -> None:
    from hftjax.run_config import load_run_config
    from hftjax.subagent.run import train_subagents

    mode = [f"subagents.mode={args.mode}"] if args.mode else []
    cfg = load_run_config(None, args.config, [*mode, *args.overrides], default_section="subagents",
                          only=("subagents", "env"))
    state, trainer = train_subagents(cfg.subagents, args.data_dir, args.out, env=cfg.env, resume_from=args.resume_from,
                                     progress=not args.quiet, placement=_placement(args))
    for i, m in enumerate(trainer.members):
        print(f"  {m['agent']:<8} seed {m['seed']}: best epoch {int(state.best_epoch[i])}, "
              f"validation return rate {float(state.best_score[i]):+.4f}")
    print(f"run directory: {args.out} (subagents_log.jsonl, checkpoints/)")


def _train_baselines(args: argparse.Namespace) -> None:
    from hftjax.baselines.run import train_baselines
    from hftjax.rundir import first_unfinished
    from hftjax.run_config import load_run_config

    cfg = load_run_config(None, args.config, args.overrides, default_section="baselines",
                          only=("baselines", "subagents", "env"))
    resume = first_unfinished(args.out, args.resume_from)
    for state, trainer in train_baselines(cfg.baselines, cfg.subagents, args.data_dir, args.out, env=cfg.env,
                                          progress=not args.quiet, placement=_placement(args), resume=resume):
        for i, m in enumerate(trainer.members):
            print(f"  {m['agent']:<8} seed {m['seed']}: best epoch {int(state.best_epoch[i])}, "
                  f"validation return rate {float(state.best_score[i]):+.4f}")
    print(f"run directory: {args.out} (baselines_log.jsonl, ppo_log.jsonl; hftjax evaluate reports them beside MacroHFT)")


def _train_hyper(args: argparse.Namespace) -> None:
    from hftjax.hyper.artifacts import hyper_config_of
    from hftjax.hyper.run import train_hyper
    from hftjax.run_config import load_run_config

    trained = None if args.defaults else hyper_config_of(args.run_dir)
    cfg = load_run_config(None, args.config, args.overrides, base={"hyper": trained.to_json()} if trained else None,
                          default_section="hyper", only=("hyper",)).hyper
    state, run = train_hyper(args.run_dir, cfg, out=args.out, resume_from=args.resume_from, progress=not args.quiet,
                             placement=_placement(args))
    for i, seed in enumerate(run.cfg.seeds):
        print(f"  hyper-agent seed {seed}: best epoch {int(state.best_epoch[i])}, "
              f"validation return rate {float(state.best_score[i]):+.4f}")
    print(f"hyper-agent directory: {args.out or args.run_dir} (evaluate it with hftjax evaluate)")


def _evaluate(args: argparse.Namespace) -> None:
    from hftjax.evaluate import evaluate, format_summary

    metrics = evaluate(args.run_dir, args.split, progress=not args.quiet)
    print(format_summary({args.split: metrics}))
    name = "metrics.json" if args.split == "test" else f"metrics_{args.split}.json"
    print(f"wrote {Path(args.run_dir) / 'results' / name} and {args.split}_positions.parquet")


def _download(args: argparse.Namespace) -> None:
    from hftjax.data.download import MARKETS, download

    limits = Limits(args.deadline, args.stall_timeout, args.max_archive_mb << 20)
    paths = download(args.symbol, args.start, args.end, market=args.market, out=args.out, base_url=args.base_url,
                     limits=limits, progress=not args.quiet)
    print(f"{len(paths)} archive(s) in {args.out}; next: hftjax prepare {args.out}/{MARKETS[args.market]}/*/klines/"
          f"{args.symbol.upper()}/1m/*.zip --out DATA_DIR (or hftjax run --data with the same files)")


def _tearsheet(args: argparse.Namespace) -> None:
    from hftjax.tearsheet import write_tearsheet

    print(f"wrote {write_tearsheet(args.run_dir, args.split, args.out, force=args.force)}")


def _compare(args: argparse.Namespace) -> None:
    from hftjax.compare import compare

    print(compare(args.run_dirs, args.out, allow_different=args.allow_different, force=args.force), end="")
    if args.out:
        print(f"wrote {Path(args.out) / 'compare.md'} and compare.csv")


def _run(args: argparse.Namespace) -> None:
    from hftjax.evaluate import format_summary
    from hftjax.pipeline import run_pipeline
    from hftjax.run_config import load_run_config

    shortcuts = [f"data.inputs={json.dumps(args.data)}"] if args.data else []
    if args.seeds:
        shortcuts += [f"{section}.seeds={json.dumps(args.seeds)}" for section in ("subagents", "hyper")]
    if args.devices is not None:
        shortcuts.append(f"devices.count={args.devices}")
    cfg = load_run_config(args.preset, args.config, [*shortcuts, *args.overrides])
    cfg.devices.select_platform()
    out = args.out or f"runs/{args.preset}"
    metrics = run_pipeline(out, cfg, progress=not args.quiet, resume_from=args.resume_from)
    print(format_summary(metrics))
    print(f"run directory: {out}")


BENCHMARKS = {"env": "throughput.env_throughput", "synth": "throughput.synth_throughput", "train": "throughput.train_throughput",
              "subagent-quality": "experiments.subagent_quality", "memory": "throughput.memory_latency", "hyper": "throughput.hyper_throughput",
              "scaling": "throughput.scaling", "hyper-comparison": "experiments.hyper_comparison", "real-markets": "experiments.real_markets",
              "gpu": "throughput.gpu_check", "walk-forward": "experiments.walk_forward", "levers": "experiments.levers",
              "eth-scale": "throughput.eth_scale", "epoch-profile": "throughput.epoch_profile",
              "setting-choice": "experiments.setting_choice", "lab": "experiments.lab"}
# ``bench all``: every throughput benchmark, with the arguments its --quick run takes
THROUGHPUT_QUICK = {"env": ["--quick"], "synth": [], "train": ["--rows", "6000", "--seeds", "2"],
                    "memory": ["--quick"], "hyper": ["--rows", "12000"], "scaling": ["--quick"]}


def _bench(args: argparse.Namespace) -> None:
    """``python -m benchmarks.<name>`` in the source checkout, passing the remaining arguments;
    ``all`` runs every throughput benchmark (``--quick``: each at its smoke size)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "common.py").exists():
        raise ConfigError("bench", f"benchmarks/ not found next to {root / 'hftjax'}: run from a source checkout")
    # -q after the benchmark's name is hftjax's, not the script's (argparse hands it on with the rest)
    quiet = args.quiet or any(a in ("-q", "--quiet") for a in args.args)
    passed = [a for a in args.args if a not in ("-q", "--quiet")]
    if args.name == "all":
        unknown = [a for a in passed if a != "--quick"]
        if unknown:
            raise ConfigError("bench all", f"takes only --quick, not {' '.join(unknown)}")
        runs = [(name, THROUGHPUT_QUICK[name] if passed else []) for name in THROUGHPUT_QUICK]
    else:
        runs = [(args.name, passed)]
    for name, extra in bar(runs, desc=f"bench {args.name}", unit="benchmark", enabled=not quiet):
        print(f"hftjax bench {name} {' '.join(extra)}".rstrip(), flush=True)
        tag = {"HFTJAX_BENCH_TAG": "quick"} if args.name == "all" and passed else {}  # not over the full tables
        done = subprocess.run([sys.executable, "-m", f"benchmarks.{BENCHMARKS[name]}", *extra], cwd=root,
                              env={**os.environ, **tag})
        if done.returncode:
            raise SystemExit(done.returncode)


VERBOSE_HELP = ("more detail on stderr: each stage and its time, every member's loss and validation score per "
                "epoch, and the traceback of an error")
RESUME_HELP = "resume from the checkpoint after N epochs (0: start over); later checkpoints are moved aside"


class _Version(argparse.Action):
    """``--version``: computed when asked (it starts JAX's backend), then exit."""

    def __call__(self, parser, namespace, values, option_string=None):
        from hftjax.software import version_text
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hftjax", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("--version", action=_Version, nargs=0, help="print hftjax's version, git commit, JAX's "
                        "libraries and backend, then exit")
    common = argparse.ArgumentParser(add_help=False)  # -v after the command name too
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser = functools.partial(sub.add_parser, parents=[common])

    p = sub.add_parser("synth", help="generate a synthetic 1-minute market with a 5-level book",
                       epilog='example: hftjax synth --rows 60000 --seed 0 --out market.parquet')
    p.add_argument("--rows", type=int, default=525_600, help="number of 1-minute bars (default: one year)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same market (default 0)")
    p.add_argument("--out", required=True, help="output .parquet file")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file that hftjax synth did not write (by default it is refused)")
    p.set_defaults(run=_synth)

    p = sub.add_parser("download", help="Binance 1-minute klines (spot or USD-M futures) for a date range, checksummed and resumable",
                       epilog="example: hftjax download ETHUSDT 2021-04-01 2021-06-16 --out data/binance")
    p.add_argument("symbol", help="e.g. ETHUSDT")
    p.add_argument("start", help="first UTC day, YYYY-MM-DD")
    p.add_argument("end", help="UTC day after the last, YYYY-MM-DD (exclusive, like --split)")
    p.add_argument("--market", default="spot", choices=["spot", "um"], help="spot (default) or um (USD-M futures)")
    p.add_argument("--out", default="binance", help="folder the archives go to, in Binance's layout (default binance)")
    p.add_argument("--base-url", help="a mirror of https://data.binance.vision (default: $HFTJAX_BINANCE_URL, else that)")
    limits = Limits()
    p.add_argument("--deadline", type=float, default=limits.deadline_s, metavar="SECONDS",
                   help=f"most time for one archive, its checksum and retries included (default {limits.deadline_s:g})")
    p.add_argument("--stall-timeout", type=float, default=limits.stall_s, metavar="SECONDS",
                   help=f"give up a transfer after this long without a byte (default {limits.stall_s:g})")
    p.add_argument("--max-archive-mb", type=int, default=limits.max_bytes >> 20, metavar="MB",
                   help=f"largest archive accepted, announced or received (default {limits.max_bytes >> 20})")
    p.set_defaults(run=_download)

    p = sub.add_parser("prepare", help="features, splits and chunk labels from market files",
                       epilog='example: hftjax prepare ../shared/data/binance_ETHUSDT_1m_2021-04-02_2021-06-15.parquet --out runs/eth/data --normalize zscore')
    p.add_argument("inputs", nargs="+", help="Binance kline .csv/.zip, OHLCV .csv/.parquet, Tardis book .csv")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--features", default="auto", choices=["auto", "lob", "ohlcv"],
                   help="feature set: lob needs a 5-level book, ohlcv does not; auto picks lob when the book is there")
    p.add_argument("--chunk-len", type=int, default=CHUNK_LEN, help=f"rows per chunk (default {CHUNK_LEN} = 3 days)")
    p.add_argument("--split", action="append", metavar="NAME=START:END",
                   help="UTC time split, END exclusive (repeatable; default 70/15/15 by time)")
    p.add_argument("--gap-policy", default="split", choices=["split", "error"],
                   help="what a gap longer than --max-ffill does: split into segments, or fail")
    p.add_argument("--max-ffill", type=int, default=0, metavar="MINUTES",
                   help="forward-fill gaps of at most this many missing bars (default 0)")
    p.add_argument("--normalize", default="none", choices=["none", "zscore"],
                   help="zscore: scale single and context features by the training split's mean and std "
                        "(default none, the reference's raw features)")
    p.set_defaults(run=_prepare)

    p = sub.add_parser("train-subagents", help="train the six sub-agents (and seeds/sweeps) on a prepared dataset",
                       epilog='example: hftjax train-subagents runs/eth/data --out runs/eth seeds=[0,1,2] epochs=5')
    p.add_argument("data_dir", help="output directory of hftjax prepare")
    p.add_argument("--out", required=True, help="run directory (rerun to resume from its checkpoints)")
    p.add_argument("--config", help="JSON, TOML or YAML file: subagents/env sections, or plain sub-agent options")
    p.add_argument("--mode", choices=["faithful", "fast"], help="faithful: one episode at a time; fast: parallel episodes")
    p.add_argument("--resume-from", type=int, metavar="N", help=RESUME_HELP)
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="sub-agent options (e.g. epochs=5 seeds=[0,1,2]) or env.KEY=VALUE (e.g. env.max_holding=0.01)")
    p.add_argument("--devices", type=int, default=1, metavar="N",
                   help="spread the population over the first N devices (0: all; default 1); N must divide the members")
    p.set_defaults(run=_train_subagents)

    p = sub.add_parser("train-baselines", help="train the learned baselines DQN, DDQN, CDQNRP and PPO on a prepared dataset",
                       epilog='example: hftjax train-baselines runs/eth/data --out runs/eth \'algorithms=["dqn","ppo"]\'')
    p.add_argument("data_dir", help="output directory of hftjax prepare")
    p.add_argument("--out", required=True, help="run directory (the sub-agents' one, so evaluate reports them)")
    p.add_argument("--config", help="JSON, TOML or YAML file: baselines/subagents/env sections, or plain baseline options")
    p.add_argument("--resume-from", type=int, metavar="N", help=RESUME_HELP + " (of the first family not yet finished)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="baseline options (algorithms, hidden, window_jitter, ppo_*), subagents.KEY (the learner settings) or env.KEY")
    p.add_argument("--devices", type=int, default=1, metavar="N",
                   help="spread the population over the first N devices (0: all; default 1); N must divide the members")
    p.set_defaults(run=_train_baselines)

    p = sub.add_parser("train-hyper", help="train the hyper-agent over a run's frozen sub-agents",
                       epilog='example: hftjax train-hyper runs/eth --out runs/eth/ablations/no-memory memory=false')
    p.add_argument("run_dir", help="run directory of hftjax train-subagents (or hftjax run)")
    p.add_argument("--out", help="write the hyper-agent here instead of RUN_DIR (an ablation beside the main result)")
    p.add_argument("--config", help="JSON, TOML or YAML file of hyper-agent options (applied over RUN_DIR's own)")
    p.add_argument("--defaults", action="store_true",
                   help="start from the HyperConfig defaults, not from the config RUN_DIR was trained with")
    p.add_argument("--resume-from", type=int, metavar="N", help=RESUME_HELP)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. epochs=5 memory=false seeds=[0,1,2]")
    p.add_argument("--devices", type=int, default=1, metavar="N",
                   help="spread the population over the first N devices (0: all; default 1); N must divide the members")
    p.set_defaults(run=_train_hyper)

    p = sub.add_parser("evaluate", help="paper metrics of MacroHFT and buy-and-hold on a split",
                       epilog='example: hftjax evaluate runs/eth --split valid')
    p.add_argument("run_dir", help="a run directory, or a train-hyper --out directory (results go to DIR/results)")
    p.add_argument("--split", default="test", help="which prepared split to evaluate on: test (default), valid or train")
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("tearsheet", help="a quantstats HTML tear sheet of MacroHFT against buy-and-hold (the report extra)",
                       epilog='example: hftjax tearsheet runs/eth --split test')
    p.add_argument("run_dir", help="a run directory hftjax evaluate wrote results/<split>_daily_returns.csv into")
    p.add_argument("--split", default="test", help="which evaluated split: test (default), valid or train")
    p.add_argument("--out", help="the HTML file (default RUN/results/<split>_tearsheet.html)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file that hftjax did not write (by default it is refused)")
    p.set_defaults(run=_tearsheet)

    p = sub.add_parser("compare", help="runs of one config (differing only in seeds) pooled as one mean ± std table (Markdown and CSV)",
                       epilog='example: hftjax compare runs/eth-seed0 runs/eth-seed1 --out cmp')
    p.add_argument("run_dirs", nargs="+", help="directories hftjax evaluate wrote results/metrics.json into")
    p.add_argument("--out", help="also write compare.md and compare.csv here")
    p.add_argument("--force", action="store_true",
                   help="replace a compare.md or compare.csv that hftjax did not write (by default it is refused)")
    p.add_argument("--allow-different", action="store_true",
                   help="pool runs whose configs differ in more than seeds (the table then names the keys that differ)")
    p.set_defaults(run=_compare)

    p = sub.add_parser("run", help="synth (or --data) -> prepare -> sub-agents -> hyper-agent -> evaluation",
                       epilog='example: hftjax run --data ../shared/data/binance_BTCUSDT_1m_2021-04-02_2021-05-20.parquet --seeds 0 1 2 --out runs/btc')
    p.add_argument("--preset", default="demo", help=f"one of {', '.join(PRESETS)} (default demo, CPU-sized)")
    p.add_argument("--config", help="JSON, TOML or YAML file of sections (data, env, subagents, hyper, evaluation, devices)")
    p.add_argument("--data", nargs="+", help="market files instead of the synthetic market (data.inputs)")
    p.add_argument("--out", help="run directory (default runs/<preset>)")
    p.add_argument("--seeds", type=int, nargs="+", help="agent seeds, vmapped (subagents.seeds and hyper.seeds)")
    p.add_argument("--devices", type=int, metavar="N",
                   help="spread the populations over the first N devices, 0 for all (devices.count; default 1)")
    p.add_argument("--resume-from", type=int, metavar="N",
                   help=RESUME_HELP + " (of the first training stage not yet finished)")
    p.add_argument("overrides", nargs="*", metavar="section.key=value", help="e.g. hyper.lr=3e-4 env.fee=0.0004")
    p.set_defaults(run=_run)

    p = sub.add_parser("bench", help="run a benchmark (writes JSON and benchmarks/RESULTS.md)",
                       epilog='example: hftjax bench all --quick (and on a GPU: hftjax bench gpu --budget 480, '
                              'every accelerator row in one budgeted command)')
    p.add_argument("name", choices=["all", *sorted(BENCHMARKS)],
                   help="all: every throughput benchmark (env, synth, train, memory, hyper, scaling); all --quick: each at smoke size")
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark script (e.g. --quick)")
    p.set_defaults(run=_bench)
    return parser


class _AboveProgressBars(logging.Handler):
    """Log lines on the current stderr, printed above any open progress bar, not into it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _log_to_stderr(command: str, verbose: bool) -> None:
    """The ``hftjax`` loggers: warnings only by default; ``-v`` adds the stages and epochs."""
    logger = logging.getLogger("hftjax")
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    logger.propagate = False
    handler = next((h for h in logger.handlers if isinstance(h, _AboveProgressBars)), None)
    if handler is None:
        handler = _AboveProgressBars()
        logger.addHandler(handler)
    handler.setFormatter(logging.Formatter(f"hftjax {command}: %(message)s"))
    # orbax logs its background writers' failures (a full disk) as tracebacks; hftjax raises
    # the same failure as its one line, so they show with -v only
    for name in ("absl", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING if verbose else logging.CRITICAL)


OVERRIDE = re.compile(r"[A-Za-z_]\w*(?:\.\w+)*=")  # section.key=value


def take_overrides(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """(argv without them, the key=value overrides in it, in order) for a command that takes
    overrides: they count wherever they stand, after ``--seeds 0 1`` or ``--data FILE`` too. A
    word that names an existing file stays where it is."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    at = next((i for i, word in enumerate(argv) if word in commands), None)
    if at is None or not any(a.dest == "overrides" for a in commands[argv[at]]._actions):
        return argv, []
    rest, overrides = argv[:at + 1], []
    for word in argv[at + 1:]:
        (overrides if OVERRIDE.match(word) and not Path(word).exists() else rest).append(word)
    return rest, overrides


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv, overrides = take_overrides(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if overrides:
        args.overrides = [*args.overrides, *overrides]
    _log_to_stderr(args.command, args.verbose)
    with warnings.catch_warnings():  # warnings as one line each, like errors
        warnings.showwarning = lambda message, *_, **__: print(f"hftjax {args.command}: warning: {message}",
                                                               file=sys.stderr)
        try:
            args.run(args)
        except (UserError, OSError) as err:
            if args.verbose:
                traceback.print_exc()
            print(f"hftjax {args.command}: error: {err}", file=sys.stderr)
            return 2
        except Interrupted as stop:  # Ctrl-C during training: after a whole, checkpointed epoch
            print(f"hftjax {args.command}: {stop}", file=sys.stderr)
            return 130
        except KeyboardInterrupt:  # Ctrl-C elsewhere: every write is atomic, nothing is half-written
            print(f"hftjax {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
