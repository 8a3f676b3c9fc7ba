"""The command line: bad input exits non-zero with a message and the usage, never a traceback."""

import argparse
import subprocess
import sys

import pytest

from guidance.cli import COMMANDS, build_parser, chosen_command, main


def test_unknown_subcommand_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: gestes" in err
    assert "invalid choice" in err


def test_help_lists_description(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "surgical-guidance simulator" in capsys.readouterr().out


def test_console_script_runs_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "guidance.cli", "--bogus-option"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage: gestes" in result.stderr


HEAVY_MODULES = ("vtk", "pyvista", "SimpleITK", "numba")


def imported_after(code: str) -> set[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_importing_the_cli_imports_no_heavy_library():
    assert imported_after("import guidance.cli") == set()


def test_help_imports_no_command_module():
    code = (
        "import contextlib, io\n"
        "from guidance.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert not [m for m in sys.modules if m.startswith('guidance.commands.')]"
    )
    assert imported_after(code) == set()


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"gestes {version('gestes')}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
def test_each_command_loads_with_the_summary_gestes_help_lists(command):
    parser = build_parser(load=command.name)
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {choice.dest: choice.help for choice in subparsers._choices_actions}
    assert listed[command.name] == command.summary


def test_options_before_the_command_still_find_it():
    assert chosen_command(["-v", "--verbose", "pivot", "x.mha", "--tool", "a"]) == "pivot"
    assert chosen_command(["--help"]) is None


@pytest.mark.parametrize("module", ["pivot", "scene", "volume"])
def test_these_command_modules_import_no_heavy_library(module):
    """``gestes pivot|scene|volume --help`` need neither SimpleITK, VTK nor Numba."""
    assert imported_after(f"import guidance.commands.{module}") == set()
