"""Packaging: ``pip install -e .`` (what ``make demo`` and ``make test`` run) builds quietly.

The editable wheel is built the way pip builds it (setuptools' PEP 660 hook, in a subprocess)
from a copy of the project's packaging files, and setuptools must not warn about folders named
like the packages (it does when it cannot tell the layout and installs an import hook instead).
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("registration", "devices", "scenes", "guidance")


def copy_project(destination: Path) -> None:
    """The packaging files and the packages' folders (their __init__.py files suffice)."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, destination / name)
    for package in PACKAGES:
        for init in (ROOT / package).rglob("__init__.py"):
            target = destination / init.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(init, target)


def test_editable_wheel_builds_without_warning_and_puts_the_project_on_the_path(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    copy_project(project)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build = (
        "import sys\n"
        "from setuptools import build_meta\n"
        f"print(build_meta.build_editable({str(wheels)!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", build],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Warning" not in result.stderr, result.stderr
    wheel = wheels / result.stdout.split()[-1]
    with zipfile.ZipFile(wheel) as archive:
        pth = [name for name in archive.namelist() if name.endswith(".pth")]
        assert len(pth) == 1
        assert archive.read(pth[0]).decode().strip() == str(project)
