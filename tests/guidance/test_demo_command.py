"""``gestes demo`` end to end (report, picture, summary, reproducibility) and its bad input:
bad options, an unwritable output folder, a machine that cannot render."""

import contextlib
import io
import json
import math

import numpy as np
import pytest
import pyvista as pv

from devices.tools import BUILTIN_TOOLS
from guidance import demo as demo_module
from guidance.cli import main
from guidance.demo import DemoSettings, run_demo
from guidance.views import check_rendering
from registration.error_model import tip_in_reference_error_rms_mm
from registration.tre import expected_fre_rms
from scenes.scene import load_scene
from scenes.volume import load_volume

SEED = 3


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Run ``gestes demo --out DIR --seed 3`` once; returns (exit status, stdout, DIR)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["demo", "--out", str(out), "--seed", str(SEED)])
    return status, stdout.getvalue(), out


@pytest.fixture(scope="module")
def report(demo_run):
    return json.loads((demo_run[2] / "report.json").read_text())


def test_demo_exits_zero_and_writes_its_files(demo_run, report):
    status, _, out = demo_run
    assert status == 0
    assert (out / "navigation.png").is_file()
    assert report["picture"] == "navigation.png"
    ct = load_volume(out / report["scene"]["ct_file"])
    assert ct.GetSpacing() == pytest.approx((1.0, 1.0, 1.0))
    scene = load_scene(out / report["scene"]["folder"])
    assert scene.fiducial_labels == tuple(f["label"] for f in report["fiducials"])
    np.testing.assert_allclose(
        scene.fiducials_mm, [f["true_mm"] for f in report["fiducials"]], atol=1e-4
    )


def test_report_has_every_section(report):
    assert set(report) >= {
        "scene",
        "simulation",
        "ground_truth",
        "registration",
        "fiducials",
        "targets",
        "timing_s",
    }
    assert report["scene"]["name"] == "skull"
    assert report["scene"]["n_fiducials"] == len(report["fiducials"]) >= 6
    assert report["scene"]["n_targets"] == len(report["targets"]) >= 2
    assert report["simulation"]["seed"] == SEED
    assert report["simulation"]["marker_jitter_rms_mm"] == 0.25
    assert report["simulation"]["noise_correlation_s"] == 0.0
    assert report["warnings"] == []
    assert report["registration"]["fle_rms_mm"]["from_fre"] > 0.0
    assert report["timing_s"]["total"] > 0.0


def test_the_camera_sees_every_frame(report):
    """The scripted hand keeps both tools inside the camera's volume with their markers turned
    toward it; the simulator would report frames where markers face away or leave the volume."""
    assert report["simulation"]["n_frames"] > 1000
    assert report["simulation"]["n_frames_with_a_tool_lost"] == 0


def test_fre_is_within_a_factor_two_of_the_noise_model(report):
    """Recompute the FRE the marker-noise model expects (Fitzpatrick 1998) from the tools and the
    dwells, independently of the demo's own bookkeeping, and compare it with the measured FRE."""
    stylus, reference = BUILTIN_TOOLS["stylus"], BUILTIN_TOOLS["reference"]
    jitter = report["simulation"]["marker_jitter_rms_mm"]
    fle = [
        tip_in_reference_error_rms_mm(
            stylus.markers_mm,
            stylus.tip_mm,
            reference.markers_mm,
            np.array(f["digitized_in_reference_mm"]),
            jitter,
        )
        / math.sqrt(f["n_samples"])
        for f in report["fiducials"]
    ]
    expected = expected_fre_rms(len(fle), math.sqrt(np.mean(np.square(fle))))
    fre = report["registration"]["fre_rms_mm"]
    assert expected / 2 <= fre <= 2 * expected
    assert report["registration"]["expected_fre_rms_mm"]["from_noise_model"] == pytest.approx(
        expected, abs=1e-3
    )


def test_residuals_are_the_fre_per_fiducial(report):
    residuals = np.array([f["residual_mm"] for f in report["fiducials"]])
    assert np.all(residuals >= 0.0)
    assert math.sqrt(np.mean(residuals**2)) == pytest.approx(
        report["registration"]["fre_rms_mm"], abs=1e-3
    )
    assert all(f["n_samples"] >= 50 and f["n_lost"] == 0 for f in report["fiducials"])


def test_target_errors_are_plausible(report):
    """Sub-millimetre, and each within 5 times its expected RMS (a 3D error exceeds 3 times its
    RMS with probability below 1e-4)."""
    for target in report["targets"]:
        assert 0.0 < target["predicted_tre_rms_mm"] < 1.0
        assert target["tre_mm"] < 5 * target["predicted_tre_rms_mm"]
        assert target["measured_error_mm"] < 5 * target["expected_error_rms_mm"]
        distance = np.linalg.norm(np.subtract(target["navigated_mm"], target["true_mm"]))
        assert distance == pytest.approx(target["measured_error_mm"], abs=1e-3)


def test_report_gives_the_closest_approach_to_each_structure(demo_run, report):
    scene = load_scene(demo_run[2] / report["scene"]["folder"])
    assert [s["name"] for s in report["structures"]] == [s.name for s in scene.structures]
    for structure in report["structures"]:
        assert math.isfinite(structure["closest_navigated_distance_mm"])
        assert 0.0 <= structure["at_s"] <= report["simulation"]["n_frames"] / 60.0


def test_picture_is_not_blank(demo_run):
    picture = pv.read(demo_run[2] / "navigation.png")
    pixels = np.asarray(picture.point_data.active_scalars)[:, :3].astype(np.int64)
    assert picture.dimensions[:2] == (1400, 1000)
    assert pixels.std() > 20.0
    colours = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
    assert len(np.unique(colours)) > 100


def test_summary_names_every_fiducial_and_target(demo_run, report):
    summary = demo_run[1]
    assert "FRE" in summary
    for item in (*report["fiducials"], *report["targets"]):
        assert item["label"] in summary


def test_same_seed_gives_the_same_numbers(report, tmp_path):
    again = run_demo(tmp_path, DemoSettings(seed=SEED, render=False))
    assert again.fre_rms_mm == pytest.approx(report["registration"]["fre_rms_mm"], abs=1e-4)
    assert [round(t.error_mm, 4) for t in again.targets] == [
        t["measured_error_mm"] for t in report["targets"]
    ]


def test_help_describes_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--seed", "--noise-correlation", "--no-picture"):
        assert option in text


def test_bad_option_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--frobnicate"])
    assert exit_info.value.code == 2
    assert "usage: gestes" in capsys.readouterr().err


@pytest.mark.parametrize("seed", ["-1", "abc"])
def test_bad_seed_exits_with_a_message(capsys, seed):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--seed", seed])
    assert exit_info.value.code == 2
    assert "expected an integer >= 0" in capsys.readouterr().err


def test_negative_noise_correlation_exits_with_a_message(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--noise-correlation", "-1"])
    assert exit_info.value.code == 2
    assert "expected seconds >= 0" in capsys.readouterr().err


def test_unwritable_output_folder_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot write to the output folder" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_rendering_libraries_are_named_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        demo_module, "check_rendering", lambda: check_rendering(egl_library="gestes-no-such-egl")
    )
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "apt-get install libegl1 libgl1-mesa-dri" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
