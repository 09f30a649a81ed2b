"""``hftjax tearsheet RUN``: a quantstats HTML tear sheet of MacroHFT (the mean of its seeds'
daily returns) against buy-and-hold, from ``results/<split>_daily_returns.csv`` (``hftjax.returns``).
quantstats is the ``report`` extra; without it the command says so in one line. The sheet starts
with hftjax's mark comment, by which a later ``tearsheet --out`` knows it may replace the file;
the run directory's name is HTML-escaped into its title."""

from __future__ import annotations

import contextlib
import html
import logging
import warnings
from pathlib import Path

from hftjax.errors import ConfigError, RunDirError
from hftjax.io import atomic_path
from hftjax.paths import check_name, check_writable
from hftjax.rundir import marked, results_lock

DAYS_PER_YEAR = 365  # crypto trades every day; quantstats' default (252) is for exchanges
MARK = "<!-- written by hftjax tearsheet -->\n"  # a comment may precede the doctype


def ours(path: Path) -> bool:
    """A tear sheet hftjax wrote: its mark comment, or (written before the mark) a run's results
    folder's ``<split>_tearsheet.html``. Any other file there, metrics or positions, is not one."""
    if marked(path.parent, "results") and path.name.endswith("_tearsheet.html"):
        return True
    with open(path, "rb") as f:
        return f.read(len(MARK)) == MARK.encode()


def daily_returns(run_dir: str | Path, split: str):
    """(MacroHFT, buy-and-hold) daily returns of ``split`` as pandas Series with a UTC date index."""
    import pandas as pd

    path = Path(run_dir) / "results" / f"{check_name(split, '--split')}_daily_returns.csv"
    if not path.exists():
        raise RunDirError(run_dir, f"has no {path.name}: run hftjax evaluate {run_dir} --split {split} first")
    table = pd.read_csv(path, index_col=0, parse_dates=True)
    table.index = table.index.tz_localize(None)  # quantstats compares naive dates
    return table["macrohft"].rename("MacroHFT"), table["buy_and_hold"].rename("buy and hold")


@contextlib.contextmanager
def quiet_logger(name: str):
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def write_tearsheet(run_dir: str | Path, split: str = "test", out: str | Path | None = None, *,
                    force: bool = False) -> Path:
    """The tear sheet of ``split`` at ``out`` (default ``RUN/results/<split>_tearsheet.html``);
    an existing file is replaced only when hftjax wrote it, or with ``force``."""
    try:
        import quantstats
    except ImportError:
        raise ConfigError("tearsheet", "needs quantstats: pip install 'hftjax[report]' (or pip install quantstats)") from None
    macrohft, benchmark = daily_returns(run_dir, split)
    results = Path(run_dir) / "results"
    out = check_writable(out or results / f"{split}_tearsheet.html", ours, force=force)
    # under evaluate's lock: it replaces results/ whole, which would drop a sheet written there meanwhile;
    # quantstats asks matplotlib for Arial and divides by n - 1 on short series: noise, not news
    with results_lock(results), atomic_path(out) as tmp, warnings.catch_warnings(), \
            quiet_logger("matplotlib.font_manager"):
        warnings.simplefilter("ignore")
        quantstats.reports.html(macrohft, benchmark=benchmark, output=str(tmp), periods_per_year=DAYS_PER_YEAR,
                                title=html.escape(f"MacroHFT, {split} split ({Path(run_dir).name})"))
        sheet = tmp.read_text()
        tmp.write_text(MARK + sheet)
    return out
