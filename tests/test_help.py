"""``hftjax --help`` and ``hftjax COMMAND --help``: every command listed, every option described,
an example each."""

from __future__ import annotations

import argparse

import pytest

from hftjax.cli import build_parser, main

PARSER = build_parser()
COMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert name in text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_is_described_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for action in COMMANDS[command]._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"{command}: {action.option_strings or action.dest} has no description"
        if action.option_strings:
            name = action.option_strings[0]
        elif action.choices and not action.metavar:  # argparse shows a positional's choices
            name = "{" + ",".join(action.choices) + "}"
        else:
            name = action.metavar or action.dest
        assert name in text
        assert " ".join(str(action.help % vars(action) if "%" in action.help else action.help).split()) in text
    assert f"example: hftjax {command} " in text


def test_bench_all_names_an_unknown_argument_and_keeps_quiet_its_own(capsys):
    assert main(["bench", "all", "--quick", "-q", "--fast"]) == 2
    err = capsys.readouterr().err
    assert "option 'bench all': takes only --quick, not --fast" in err and "%|" not in err
