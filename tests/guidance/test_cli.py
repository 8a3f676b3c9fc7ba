"""The command line: bad input exits non-zero with a message and the usage, never a traceback."""

import subprocess
import sys

import pytest

from guidance.cli import main


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
