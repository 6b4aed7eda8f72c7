"""`--config FILE` is declared one way for every sub-command that works on a store's configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edge.cli import build_parser
from edge.cli._options import CONFIG_HELP, config_command

CONFIG_COMMANDS = ("run", "check", "init", "restore", "reinitialise")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The `store-edge` sub-command parsers by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_helper_adds_a_required_path_and_the_handler() -> None:
    """`config_command` gives a sub-command whose `--config` is a required Path and whose handler is set."""
    parser = argparse.ArgumentParser(prog="t")
    sub = parser.add_subparsers(dest="command", required=True)

    def handler(args: argparse.Namespace) -> int:
        """Nothing to do."""
        return 0

    extra = config_command(sub, "go", handler, help="go", description="Go.")
    extra.add_argument("--fast", action="store_true")
    args = parser.parse_args(["go", "--config", "a.toml", "--fast"])
    assert (args.config, args.handler, args.fast) == (Path("a.toml"), handler, True)
    config = next(a for a in extra._actions if a.dest == "config")
    assert config.required and config.help == CONFIG_HELP
    with pytest.raises(SystemExit) as missing:
        parser.parse_args(["go"])
    assert missing.value.code == 2


@pytest.mark.parametrize("name", CONFIG_COMMANDS)
def test_every_store_command_requires_its_configuration(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """run, check, init, restore and reinitialise refuse to start without `--config`, naming it (exit status 2)."""
    commands = _subcommands(build_parser())
    config = next(a for a in commands[name]._actions if a.dest == "config")
    assert config.required and config.type is Path and config.help.startswith(CONFIG_HELP)
    with pytest.raises(SystemExit) as missing:
        build_parser().parse_args([name])
    assert missing.value.code == 2 and "--config" in capsys.readouterr().err
