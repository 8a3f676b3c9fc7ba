"""Run the command examples of the README and of ``docs/``, as written and in order.

``make examples`` (or ``.venv/bin/python scripts/doc_examples.py [--keep DIR] [--page NAME]``)
runs each command of the pages' command blocks (the fenced blocks without a language: ``text``,
``python`` and ``toml`` blocks are not commands) with the ``gestes`` of this checkout's ``.venv``,
each page in a scratch folder of its own, as a reader following that page would, and reports
which passed. The lists below are kept by hand, page by page in each page's order, so that they
say what each example needs: a few need a tracker plugged in, a display, a person at the keyboard
or hours of computing, and are listed with that reason instead of run; the "registration on your
own data" examples need the user's own files, for which the script makes stand-ins first
(``your_own_data``: the skull phantom's beads touched in a moved frame, and a stylus sweep of its
forehead, as a student's would be). ``tests/test_doc_examples.py`` checks that these lists and the
pages' command blocks agree: when you change an example in a page, change it here too.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Example:
    """A command of a page. ``skip``: why it is not run here; ``instead``: what is run in its
    place (what ``make demo`` runs once the .venv is built); ``prints``: the page's ``text``
    block is what this command prints (each of its lines must be in the output); ``for_s``: a
    command that runs until Ctrl-C is interrupted after this many seconds (and must have run that
    long); ``beside``: a command running in the background meanwhile (a server it connects to)."""

    command: str
    skip: str = ""
    instead: str = ""
    prints: bool = False
    for_s: float | None = None
    beside: str = ""

    @property
    def runs(self) -> str:
        return self.instead or self.command


@dataclass(frozen=True)
class Prepare:
    """Files the next examples take as the user's own, made by ``make(folder)``."""

    what: str
    make: Callable[[Path], None]


def your_own_data(folder: Path) -> None:
    """Stand-ins for ``ct-beads.mrk.json``, ``touched.mrk.json`` and ``sweep.igs.mha`` on the
    skull phantom saved in ``head/``: the scene's beads touched in a tracker frame turned and
    shifted from the CT's (an FLE of 0.3 mm RMS, listed in another order), and a stylus sweep of the
    forehead in that frame, the shaft along the skin's outward normal."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    from devices.frame import Frame, PoseStatus, ToolPose
    from devices.sequence_file import write_sequence
    from devices.tools import BUILTIN_TOOLS
    from registration.transforms import apply_transform, invert_rigid, make_rigid
    from scenes.markups import Markups, write_markups
    from scenes.scene import load_scene
    from scenes.surface import extract_surface

    rng = np.random.default_rng(0)
    scene = load_scene(folder / "head")
    ct_from_tracker = make_rigid(Rotation.from_rotvec([0.1, -0.2, 0.15]).as_matrix(), [12, -7, 30])
    tracker_from_ct = invert_rigid(ct_from_tracker)
    order = rng.permutation(len(scene.fiducial_labels))
    touched = apply_transform(tracker_from_ct, scene.fiducials_mm[order])
    touched += rng.normal(0.0, 0.3 / np.sqrt(3.0), touched.shape)  # FLE 0.3 mm RMS, as --fle says
    labels = tuple(scene.fiducial_labels[i] for i in order)
    write_markups(Markups(labels, touched, name="touched"), folder / "touched.mrk.json")
    bone = extract_surface(scene.ct, scene.bone_threshold_hu, outer_only=True)
    vertices, normals = np.asarray(bone.points), np.asarray(bone.point_data["Normals"])
    forehead = (vertices - vertices.mean(axis=0)) @ np.array([0.0, -1.0, 0.3]) > 60.0
    picked = np.flatnonzero(forehead)[:: max(1, int(forehead.sum()) // 400)]
    tip = BUILTIN_TOOLS["stylus"].tip_mm
    frames = []
    for index, vertex in enumerate(picked):
        z = tracker_from_ct[:3, :3] @ normals[vertex]
        x = np.cross(z, rng.normal(size=3))
        x /= np.linalg.norm(x)
        rotation = np.column_stack([x, np.cross(z, x), z])
        point = apply_transform(tracker_from_ct, vertices[vertex])
        pose = make_rigid(rotation, point - rotation @ tip + rng.normal(0.0, 0.2, 3))
        frames.append(
            Frame(index / 20.0, index, {"stylus": ToolPose("stylus", pose, PoseStatus.OK, 0.1)})
        )
    write_sequence(folder / "sweep.igs.mha", frames, ["stylus"])


def copy_ct(folder: Path) -> None:
    """``CT.nrrd``: a CT of one's own; here the spine phantom's."""
    shutil.copy(folder / "my-spine" / "ct.nrrd", folder / "CT.nrrd")


NO_TRACKER = "needs an NDI tracker on /dev/ttyUSB0"
NO_PERSON = "needs a person at the keyboard and a display"
DISPLAY = "" if os.environ.get("DISPLAY") else "opens a window: needs a display (DISPLAY unset)"
NO_CLUSTER = "needs a Dask cluster of your own"
TEMPLATE = "a template: NAME is pivot, fiducials, surface or targeting"
PORT = "the port is the one gestes emulate prints"


# The README's "register your own data" block opens docs/registration.md's.
YOUR_OWN_POINTS = (
    Example("gestes scene save builtin:skull head"),
    Example("gestes fiducials detect head/ct.nrrd --out ct-beads.mrk.json --names-from head"),
    Prepare("touched.mrk.json and sweep.igs.mha: a student's own data", your_own_data),
    Example("gestes register points ct-beads.mrk.json touched.mrk.json --fle 0.3 > points.json"),
)


@dataclass(frozen=True)
class Page:
    """A page of documentation (``path`` from the repository's root) and its examples in order."""

    path: str
    steps: tuple[Example | Prepare, ...]

    @property
    def folder_name(self) -> str:
        return Path(self.path).stem


PAGES = (
    Page("README.md", (
        Example("make demo", instead="gestes demo", prints=True),
        Example("make test", skip="this script runs in the .venv that make test builds"),
        Example(
            "sudo apt-get install libegl1 libgl1-mesa-dri xvfb xdotool libgl1 libglx-mesa0 "
            "chromium",
            skip="installs Debian packages (root)",
        ),
        Example(
            "gestes exercise targeting --tracker replay:gestes-demo/recording.igs.mha --out "
            "again"
        ),
        Example("gestes exercise targeting --skill expert --out expert"),
        Example(
            "gestes exercise targeting --without ct_localisation,tip_placement --out "
            "tracker-only"
        ),
        Example(
            "gestes exercise fiducials --scene builtin:skull --skill novice --seed 3 --out "
            "run-1"
        ),
        Example("gestes navigate --scene builtin:spine --tracker keyboard", skip=NO_PERSON),
        Example(
            "gestes navigate --scene builtin:skull --headless --video approach.mp4 --out "
            "approach"
        ),
        Example(
            "gestes grade class-2026/ --exercise fiducials --out grades",
            skip="needs a class's runs: docs/teaching.md makes two and grades them",
        ),
        Example("gestes study tre --fiducials 4,8 --fle 0.5 --trials 10 --out first-look"),
        Example("gestes navigate --scene builtin:skull --headless --igtl-server"),
        *YOUR_OWN_POINTS,
        Example("gestes record --tracker sim:demo --out demo.igs.mha"),
        Example("gestes replay demo.igs.mha --speed 2 --format text"),
        Example("gestes emulate ndi --source replay:demo.igs.mha", for_s=3.0),
    )),
    Page("docs/exercises.md", (
        Example(
            "gestes exercise NAME --scene builtin:skull --tracker sim --skill novice --seed 3 "
            "--out run-1",
            skip=TEMPLATE,
        ),
        Example(
            "gestes exercise NAME --tracker replay:run-1/recording.igs.mha --out run-1-again",
            skip=TEMPLATE,
        ),
        Example("gestes exercise pivot --skill expert --out pivot"),
        Example("gestes exercise fiducials --tool-tip pivot/pivot.json"),
        Example("gestes exercise surface --scene builtin:skull"),
        Example("gestes exercise targeting --scene builtin:needle-box"),
        Example("gestes exercise fiducials --without tracker_drift,tip_placement"),
        Example(
            "gestes exercise fiducials --tracker replay:gestes-fiducials/recording.igs.mha "
            "--out again"
        ),
    )),
    Page("docs/navigation.md", (
        Example("gestes navigate --scene builtin:skull", skip=DISPLAY),
        Example("gestes navigate --scene builtin:spine --tracker keyboard", skip=NO_PERSON),
        Example(
            "gestes navigate --scene builtin:needle-box --target T3 --headless --video run.mp4 "
            "--out run/"
        ),
        Example(
            "gestes navigate --scene head/ --tracker ndi:/dev/ttyUSB0 --registration points.json "
            "--tool-tip tip.json",
            skip=NO_TRACKER,
        ),
        Example("gestes scene save builtin:needle-box box"),
        Example(
            "gestes capture run/registration.igs.mha --tool stylus --relative-to reference "
            "--tip 0,0,-95 --out touched.mrk.json"
        ),
        Example(
            "gestes register points box/fiducials.mrk.json touched.mrk.json --pair-by order "
            "> points.json"
        ),
        Example(
            "gestes navigate --scene box/ --target T3 --tracker replay:run/navigation.igs.mha "
            "--registration points.json --headless --out again/"
        ),
    )),
    Page("docs/teaching.md", (
        Example("gestes exercise fiducials --seed 1 --out class-2026/alice"),
        Example("gestes exercise fiducials --seed 2 --skill expert --out class-2026/bob"),
        Example("gestes grade class-2026/ --exercise fiducials --out grades"),
        Example(
            "gestes study tre --scene builtin:skull --fiducials 4,6,8,10 --fle 0.25,0.5,1.0 "
            "--layout spread,clustered,coplanar --trials 1000 --out tre-study",
            skip="36,000 simulated exercises: about 40 minutes on 2 cores",
        ),
        Example("gestes study tre --fiducials 4,8 --fle 0.5 --trials 10 --out first-look"),
        Example("dask scheduler", skip=NO_CLUSTER),
        Example("dask worker tcp://HOST:8786 --nworkers 8 --nthreads 1", skip=NO_CLUSTER),
        Example("gestes study tre ... --scheduler tcp://HOST:8786", skip=NO_CLUSTER),
    )),
    Page("docs/tracking.md", (
        Example("gestes record --tracker sim:demo --out demo.igs.mha"),
        Example(
            "gestes record --tracker ndi:/dev/ttyUSB0 --tool stylus=8700340.rom "
            "--tool reference=8700339.rom --out session.igs.mha",
            skip=NO_TRACKER,
        ),
        Example("gestes replay demo.igs.mha --speed 2 --format text"),
        Example("gestes replay demo.igs.mha --speed max | head -1"),
        Example("gestes emulate ndi --source sim:demo", for_s=3.0),
        Example(
            "gestes record --tracker ndi:/dev/pts/3 --duration 5 --out from-the-emulator.igs.mha",
            skip=PORT,
        ),
    )),
    Page("docs/openigtlink.md", (
        Example("gestes record --tracker sim:demo --out demo.igs.mha"),
        Example("gestes replay demo.igs.mha --loop --igtl-server", for_s=3.0),
        Example("gestes replay demo.igs.mha --igtl-server 0.0.0.0:18944"),
        Example("gestes navigate --scene builtin:skull --headless --igtl-server"),
        Example(
            "gestes record --tracker igtl:127.0.0.1:18944 --tool stylus=StylusToTracker "
            "--tool reference=ReferenceToTracker --out plus-session.igs.mha",
            for_s=4.0,
            beside="gestes replay demo.igs.mha --loop --igtl-server",  # stands in for PlusServer
        ),
    )),
    Page("docs/registration.md", (
        *YOUR_OWN_POINTS,
        Example(
            "gestes register surface head/ct.nrrd --threshold 300 sweep.igs.mha --tool stylus "
            "--init points.json"
        ),
        Example("gestes record --tracker sim:demo --out demo.igs.mha"),
        Example("gestes pivot demo.igs.mha --tool stylus"),
    )),
    Page("docs/scenes.md", (
        Example("gestes scene show builtin:skull"),
        Example("gestes scene save builtin:spine my-spine/"),
        Prepare("CT.nrrd: a CT of one's own", copy_ct),
        Example("gestes volume info CT.nrrd --format text"),
        Example("gestes fiducials detect CT.nrrd --out beads.mrk.json"),
    )),
)  # fmt: skip


def fenced_lines(text: str, language: str) -> list[str]:
    """The lines of a Markdown page's fenced blocks in ``language`` ("" for none), in order."""
    lines, fence = [], None  # fence: the open block's language, else None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
        elif fence == language:
            lines.append(line)
    return lines


def documented_commands(text: str) -> list[str]:
    """The commands of a Markdown page's command blocks (fenced, without a language), in order:
    a line continued with a backslash joined to the next, comments and repeated spaces removed."""
    commands, pending = [], ""
    for line in fenced_lines(text, ""):
        line = pending + " " + re.sub(r"\s+#.*$", "", line.strip())
        pending = line[:-1] if line.endswith("\\") else ""
        if not pending and line.strip():
            commands.append(" ".join(line.split()))
    return commands


def listed_commands(page: Page) -> list[str]:
    """The commands this script lists for ``page``, in order."""
    return [step.command for step in page.steps if isinstance(step, Example)]


def run_example(example: Example, folder: Path, env: dict, shown: list[str]) -> tuple[str, str]:
    """("ran", "") or ("failed", why) or ("skipped", why); ``shown``: the page's ``text`` lines."""
    if example.skip:
        return "skipped", example.skip
    if example.for_s is None:
        result = subprocess.run(
            example.runs, shell=True, cwd=folder, env=env, capture_output=True, text=True,
            timeout=900, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            return "failed", f"exit {result.returncode}: {result.stderr.strip()[-600:]}"
        printed = {line.strip() for line in result.stdout.splitlines()}
        differ = [line for line in shown if example.prints and line.strip() not in printed]
        if differ:
            return "failed", f"the page shows {differ[0].strip()!r}; it printed:\n{result.stdout}"
        return "ran", ""
    beside = None
    if example.beside:
        beside = subprocess.Popen(
            shlex.split(example.beside), cwd=folder, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        time.sleep(2.0)
    try:
        return _interrupted_after(example, folder, env)
    finally:
        if beside is not None:
            os.killpg(beside.pid, signal.SIGINT)
            beside.wait(timeout=20)


def _interrupted_after(example: Example, folder: Path, env: dict) -> tuple[str, str]:
    """Run a command that goes on until Ctrl-C for ``for_s`` seconds, then press Ctrl-C."""
    process = subprocess.Popen(
        shlex.split(example.runs),
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip (no shell: Ctrl-C reaches gestes, whose exit status is then its own)
    time.sleep(example.for_s)
    if process.poll() is not None:
        return "failed", f"ended early, exit {process.returncode}: {process.stderr.read()[-600:]}"
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return "failed", "did not end within 20 s of Ctrl-C"
    if process.returncode not in (0, 130):
        return "failed", f"exit {process.returncode} after Ctrl-C: {err.strip()[-600:]}"
    return "ran", f"interrupted after {example.for_s:g} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument(
        "--venv", type=Path, default=ROOT / ".venv", help="the virtualenv whose gestes runs"
    )
    parser.add_argument(
        "--page", help="run only this page's examples (README, exercises, navigation, ...)"
    )
    parser.add_argument(
        "--only", help="run only the examples containing this text (no preparations)"
    )
    args = parser.parse_args()
    pages = [page for page in PAGES if args.page in (None, page.folder_name, page.path)]
    if not pages:
        parser.error(f"no page {args.page!r}: {', '.join(p.folder_name for p in PAGES)}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="gestes-examples-"))
    env = dict(
        os.environ,
        PATH=f"{args.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(ROOT),  # this checkout's code, whichever checkout the venv was made in
    )
    sys.path.insert(0, str(ROOT))
    failures = 0
    for page in pages:
        page_folder = folder / page.folder_name
        page_folder.mkdir(parents=True, exist_ok=True)
        print(f"== {page.path} (in {page_folder})")
        failures += run_page(page, page_folder, env, args.only)
    print(f"{failures} failed; ran in {folder}")
    if args.keep is None and failures == 0:
        shutil.rmtree(folder)
    return 1 if failures else 0


def run_page(page: Page, folder: Path, env: dict, only: str | None) -> int:
    """Run a page's steps in ``folder`` (only the examples containing ``only``, if given),
    print each outcome, and return the number that failed."""
    failures = 0
    shown = [line for line in fenced_lines((ROOT / page.path).read_text(), "text") if line.strip()]
    for step in page.steps:
        if only is not None and (isinstance(step, Prepare) or only not in step.command):
            continue
        if isinstance(step, Prepare):
            step.make(folder)
            print(f"  prepared  {step.what}")
            continue
        began = time.perf_counter()
        outcome, why = run_example(step, folder, env, shown)
        failures += outcome == "failed"
        took = f"{time.perf_counter() - began:5.1f} s" if outcome != "skipped" else "       "
        print(f"{outcome:>8}  {took}  {step.command}" + (f"\n          {why}" if why else ""))
    return failures


if __name__ == "__main__":
    sys.exit(main())
