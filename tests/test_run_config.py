"""The typed run config: presets, files (JSON, TOML, YAML), dotted overrides, and errors that name the key."""

from __future__ import annotations

import json

import pytest

from hftjax.env.params import MAX_HOLDING
from hftjax.errors import ConfigError
from hftjax.presets import PRESETS
from hftjax.run_config import RunConfig, load_run_config
from hftjax.subagent.config import REFERENCE_ALPHA

PAPER = {"paper-eth": "ETH", "paper-btc": "BTC", "paper-dot": "DOT", "paper-ltc": "LTC"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_loads_and_validates(name):
    inputs = ['data.inputs=["market.parquet"]'] if name in PAPER else []
    cfg = load_run_config(name, overrides=inputs)
    assert isinstance(cfg, RunConfig)
    assert RunConfig.from_dict(cfg.to_json()) == cfg  # the stored form loads back to the same config
    if name in PAPER:
        market = PAPER[name]
        assert cfg.env.max_holding == MAX_HOLDING[market]
        assert cfg.data.chunk_len == (360 if market == "BTC" else 4320)
        assert cfg.hyper.beta == (1.0 if market == "DOT" else 5.0)
        assert cfg.subagents.alpha is None and [m["alpha"] for m in cfg.subagents.members] == list(REFERENCE_ALPHA.values())
        assert [s.split("=")[0] for s in cfg.data.splits] == ["train", "valid", "test"]


def test_demo_learns_with_the_fixes_and_paper_presets_stay_faithful():
    """The learning fixes are on in demo and smoke; the paper presets keep the reference's raw
    features, quote-currency learning scale, hyper-agent lr and selection (the library defaults)."""
    for name in ("demo", "smoke"):
        cfg = load_run_config(name)
        assert cfg.data.normalize == "zscore" and cfg.hyper.lr == pytest.approx(1e-3)
    for name in PAPER:
        cfg = load_run_config(name, overrides=['data.inputs=["market.parquet"]'])
        assert cfg.data.normalize == "none" and cfg.env.learn_notional is None
        assert cfg.hyper.lr == pytest.approx(1e-4) and cfg.hyper.select_on == "return"
    defaults = load_run_config(None)  # no preset: the library defaults are the reference's
    assert defaults.data.normalize == "none" and defaults.hyper.lr == pytest.approx(1e-4)


def test_paper_presets_need_real_data():
    with pytest.raises(ConfigError, match=r"option 'data.inputs'.*real 1-minute data"):
        load_run_config("paper-eth")


def test_file_then_dotted_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("hyper:\n  lr: 0.0003\n  epochs: 4\nenv:\n  fee: 0.0004\n")
    cfg = load_run_config("smoke", tmp_path / "c.yaml", ["hyper.epochs=2", "subagents.seeds=[0,1]"])
    assert (cfg.hyper.lr, cfg.hyper.epochs, cfg.env.fee, cfg.subagents.seeds) == (3e-4, 2, 4e-4, (0, 1))
    assert cfg.subagents.hidden == PRESETS["smoke"]["subagents"]["hidden"]  # the preset under the file
    (tmp_path / "c.toml").write_text("[subagents]\nlr = 0.002\n")
    assert load_run_config(None, tmp_path / "c.toml").subagents.lr == 0.002
    (tmp_path / "plain.json").write_text(json.dumps({"lr": 0.005}))  # plain options of the command's section
    assert load_run_config(None, tmp_path / "plain.json", default_section="hyper").hyper.lr == 0.005


@pytest.mark.parametrize("overrides, key, text", [
    (["hyper.lrr=1"], "hyper.lrr", "unknown option"),
    (["hyperr.lr=1"], "hyperr", "unknown section"),
    (["hyper.lr=-1"], "hyper.lr", "a number > 0"),
    (["env.max_holding=0"], "env.max_holding", "a number of coins > 0"),
    (["env.notional=-5"], "env.notional", "a number > 0"),
    (["env.levels=1"], "env.levels", "an integer >= 2"),
    (["data.chunk_len=8"], "data.chunk_len", "an integer >= 16"),
    (['data.splits=["x"]'], "data.splits", "NAME=START:END"),
    (["devices.platform=gpu0"], "devices.platform", "cpu, cuda"),
    (["lr=1"], "lr", "give the section too"),
])
def test_bad_keys_and_values_name_the_key(overrides, key, text):
    with pytest.raises(ConfigError, match=text) as info:
        load_run_config("demo", overrides=overrides)
    assert info.value.option == key


def test_a_command_takes_only_its_sections(tmp_path):
    with pytest.raises(ConfigError, match="takes options of hyper only"):
        load_run_config(None, overrides=["env.fee=0.001"], default_section="hyper", only=("hyper",))
    (tmp_path / "bad.yaml").write_text("hyper: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(None, tmp_path / "bad.yaml")


def test_yaml_numbers_read_as_numbers_and_a_files_bad_value_names_the_file(tmp_path):
    (tmp_path / "c.yaml").write_text("hyper:\n  lr: 3e-4\n  beta: 1E+1\nsubagents:\n  lr: 5.\n")
    cfg = load_run_config("smoke", tmp_path / "c.yaml")
    assert (cfg.hyper.lr, cfg.hyper.beta, cfg.subagents.lr) == (3e-4, 10.0, 5.0)
    (tmp_path / "bad.yaml").write_text("hyper:\n  epochs: -1\n  lr: 3e-4\n")
    with pytest.raises(ConfigError, match=r"'hyper.epochs'.*\(set in .*bad.yaml\)"):
        load_run_config("smoke", tmp_path / "bad.yaml")
    with pytest.raises(ConfigError) as overridden:  # the override's bad value is not the file's
        load_run_config("smoke", tmp_path / "c.yaml", ["hyper.lr=-1"])
    assert "set in" not in str(overridden.value) and "'hyper.lr'" in str(overridden.value)


def test_overrides_count_wherever_they_stand(tmp_path, capsys):
    from hftjax.cli import build_parser, main, take_overrides

    parser = build_parser()
    odd = tmp_path / "x=1.parquet"  # a file whose name looks like an override stays a file
    odd.write_text("")
    argv, overrides = take_overrides(parser, ["run", "--seeds", "0", "1", "hyper.lr=1e-3", "--data", str(odd),
                                              "env.fee=0.001", "--out", "r"])
    args = parser.parse_args(argv)
    assert args.seeds == [0, 1] and args.data == [str(odd)] and overrides == ["hyper.lr=1e-3", "env.fee=0.001"]
    # end to end: the override after --seeds reaches the config (and its bad value is named)
    assert main(["run", "--seeds", "0", "1", "hyper.lr=-1", "--out", str(tmp_path / "run"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "option 'hyper.lr': must be a number > 0" in err and "invalid int value" not in err
    assert main(["run", "--data", str(tmp_path / "missing.parquet"), "hyper.lr=-1", "--out", str(tmp_path / "r2")]) == 2
    assert "hyper.lr=-1: no such file" not in capsys.readouterr().err
