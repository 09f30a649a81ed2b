from __future__ import annotations

import numpy as np
import pytest

from hftjax.errors import ConfigError
from hftjax.splits import default_splits, parse_splits

DAY = 86_400_000


def ms(text):
    return int(np.datetime64(text, "ms").astype(np.int64))


def test_parse_dates_and_datetimes():
    splits = parse_splits(["train=2022-02-01:2023-02-01", "valid=2023-02-01T00:00:2023-06-01 12:30", "test=2023-06-01T12:30:"])
    assert splits["train"] == (ms("2022-02-01"), ms("2023-02-01"))
    assert splits["valid"] == (ms("2023-02-01"), ms("2023-06-01T12:30"))
    assert splits["test"][0] == ms("2023-06-01T12:30") and splits["test"][1] == np.iinfo(np.int64).max


@pytest.mark.parametrize("specs, match", [
    (["train=2022-02-01"], "NAME=START:END"),
    (["valid=2022-02-01:2022-03-01"], "'train' split is required"),
    (["train=2022-03-01:2022-02-01"], "before END"),
    (["train=2022-02-01:2022-04-01", "valid=2022-03-01:2022-05-01"], "overlap"),
    (["train=2022-02-01:2022-04-01", "train=2022-05-01:2022-06-01"], "twice"),
])
def test_bad_split_specs_name_the_option(specs, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_splits(specs)
    assert err.value.option == "--split"


def test_default_is_70_15_15_by_time_on_the_grid():
    start = ms("2022-01-01")
    splits = default_splits(start, start + 100 * DAY, 60_000)
    assert list(splits) == ["train", "valid", "test"]
    assert splits["train"] == (start, start + 70 * DAY)
    assert splits["valid"] == (start + 70 * DAY, start + 85 * DAY)
    assert splits["test"] == (start + 85 * DAY, start + 100 * DAY)
    assert all((b - start) % 60_000 == 0 for _, b in splits.values())
