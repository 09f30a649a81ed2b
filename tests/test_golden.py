"""Training gives the numbers recorded on main before the learner refactor (``golden_training.py``)."""

from __future__ import annotations

import numpy as np

from tests.golden_training import GOLDEN, train


def test_training_matches_the_recorded_golden_outputs(tmp_path):
    golden = np.load(GOLDEN)
    now = train(tmp_path)
    assert sorted(now) == sorted(golden.files)
    for name in golden.files:
        np.testing.assert_allclose(now[name], golden[name], rtol=2e-4, atol=2e-6, err_msg=name)
