"""``gestes register points|surface`` and ``gestes pivot``: JSON out, known answers, user errors."""

import json
import math

import numpy as np
import pytest
import pyvista as pv
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from devices.frame import Frame, PoseStatus, ToolPose
from devices.sequence_file import write_sequence
from devices.tools import BUILTIN_TOOLS
from guidance.cli import main
from registration.transforms import apply_transform, invert_rigid, make_rigid
from scenes.markups import Markups, read_markups, write_markups
from scenes.phantoms import PhantomKind, build_phantom
from scenes.surface import extract_surface
from scenes.volume import save_volume
from tests.registration.shells import make_shell, sample_patch
from tests.shared_data import SHARED_DATA

TRUTH = make_rigid(Rotation.from_rotvec([0.1, -0.2, 0.15]).as_matrix(), [12.0, -7.0, 30.0])


def _run(capsys, *argv: str) -> tuple[int, dict | str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, (json.loads(captured.out) if status == 0 else captured.err)


def _fiducials() -> np.ndarray:
    return np.array([[0.0, 0, 0], [80, 0, 0], [0, 70, 0], [0, 0, 60], [50, 40, 30]])


def test_points_by_label_recover_the_transform(tmp_path, capsys):
    fixed = _fiducials()
    moving = apply_transform(invert_rigid(TRUTH), fixed)
    labels = ("A", "B", "C", "D", "E")
    write_markups(Markups(labels, fixed), tmp_path / "fixed.mrk.json")
    order = [4, 2, 0, 3, 1]  # the moving file lists them in another order
    write_markups(Markups(tuple(labels[i] for i in order), moving[order]), tmp_path / "m.fcsv")
    write_markups(Markups(("T1",), np.array([[20.0, 20, 20]])), tmp_path / "t.mrk.json")
    status, report = _run(
        capsys, "register", "points", str(tmp_path / "fixed.mrk.json"), str(tmp_path / "m.fcsv"),
        "--targets", str(tmp_path / "t.mrk.json"), "--fle", "0.5",
    )  # fmt: skip
    assert status == 0
    np.testing.assert_allclose(report["fixed_from_moving"], TRUTH, atol=1e-9)
    assert report["fre_rms"] < 1e-9
    assert set(report["residuals"]) == set(labels)
    assert report["paired_by"] == "label"
    assert 0.5 / math.sqrt(5) < report["predicted_tre"]["T1"] < 0.5


def test_points_without_shared_labels_are_refused_unless_paired_by_order(tmp_path, capsys):
    fixed = _fiducials()
    write_markups(Markups(("1", "2", "3", "4", "5"), fixed), tmp_path / "f.fcsv")
    moving = apply_transform(invert_rigid(TRUTH), fixed)
    write_markups(Markups(("a", "b", "c", "d", "e"), moving), tmp_path / "m.fcsv")
    status, message = _run(
        capsys, "register", "points", str(tmp_path / "f.fcsv"), str(tmp_path / "m.fcsv")
    )
    assert status == 2
    assert "share 0 labels" in message
    status, report = _run(
        capsys, "register", "points", str(tmp_path / "f.fcsv"), str(tmp_path / "m.fcsv"),
        "--pair-by", "order",
    )  # fmt: skip
    assert status == 0
    assert report["paired_by"] == "order"
    np.testing.assert_allclose(report["fixed_from_moving"], TRUTH, atol=1e-9)
    assert report["warnings"] == []


def test_points_paired_wrongly_warn_in_the_json_and_on_stderr(tmp_path, capsys):
    fixed = _fiducials()
    write_markups(Markups(("1", "2", "3", "4", "5"), fixed), tmp_path / "f.fcsv")
    swapped = apply_transform(invert_rigid(TRUTH), fixed)[[1, 0, 2, 3, 4]]
    write_markups(Markups(("1", "2", "3", "4", "5"), swapped), tmp_path / "m.fcsv")
    assert main(["register", "points", str(tmp_path / "f.fcsv"), str(tmp_path / "m.fcsv")]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["fre_rms"] > report["fre_limit"]
    assert len(report["warnings"]) == 1
    assert "each label names the same point" in report["warnings"][0]
    assert "gestes register points: warning: FRE" in captured.err


def test_points_left_out_by_their_status_are_named(tmp_path, capsys):
    fixed = _fiducials()
    write_markups(Markups(("1", "2", "3", "4", "5"), fixed), tmp_path / "f.mrk.json")
    document = json.loads((tmp_path / "f.mrk.json").read_text())
    document["markups"][0]["controlPoints"][4]["positionStatus"] = "missing"
    (tmp_path / "m.mrk.json").write_text(json.dumps(document))
    status, report = _run(
        capsys, "register", "points", str(tmp_path / "f.mrk.json"), str(tmp_path / "m.mrk.json")
    )
    assert status == 0
    assert len(report["residuals"]) == 4
    assert any("5 (missing)" in warning for warning in report["warnings"])
    assert any("no partner" in warning for warning in report["warnings"])


def test_points_with_an_overflowing_coordinate_are_a_user_error(tmp_path, capsys):
    """Issue 14.14: a coordinate of 1.8e308 was a LinAlgError traceback."""
    write_markups(Markups(("1", "2", "3", "4"), _fiducials()[:4]), tmp_path / "f.fcsv")
    text = (tmp_path / "f.fcsv").read_text().replace("\n4,0.0,0.0,60.0", "\n4,1.7e308,0.0,60.0")
    (tmp_path / "m.fcsv").write_text(text)
    status, message = _run(
        capsys, "register", "points", str(tmp_path / "f.fcsv"), str(tmp_path / "m.fcsv")
    )
    assert status == 2
    assert "1e75 mm" in message


def test_points_targets_without_fle_is_a_user_error(tmp_path, capsys):
    write_markups(Markups(("1", "2", "3"), _fiducials()[:3]), tmp_path / "f.fcsv")
    status, message = _run(
        capsys, "register", "points", str(tmp_path / "f.fcsv"), str(tmp_path / "f.fcsv"),
        "--targets", str(tmp_path / "f.fcsv"),
    )  # fmt: skip
    assert status == 2
    assert "--fle" in message


def test_points_that_cannot_be_paired_is_a_user_error(tmp_path, capsys):
    write_markups(Markups(("1", "2", "3"), _fiducials()[:3]), tmp_path / "f.fcsv")
    write_markups(Markups(("a", "b", "c", "d"), _fiducials()[:4]), tmp_path / "m.fcsv")
    status, message = _run(
        capsys, "register", "points", str(tmp_path / "f.fcsv"), str(tmp_path / "m.fcsv"),
        "--pair-by", "order",
    )  # fmt: skip
    assert status == 2
    assert f"the markups file {tmp_path / 'f.fcsv'} has 3 points" in message
    assert "has 4" in message


def test_too_few_points_names_the_file_not_a_variable(tmp_path, capsys):
    write_markups(Markups(("1", "2"), _fiducials()[:2]), tmp_path / "f.fcsv")
    status, message = _run(
        capsys, "register", "points", str(tmp_path / "f.fcsv"), str(tmp_path / "f.fcsv")
    )
    assert status == 2
    assert f"the markups file {tmp_path / 'f.fcsv'} has 2 points" in message
    assert "fixed_mm" not in message


@pytest.fixture(scope="module")
def shell_file(tmp_path_factory):
    shell = make_shell()
    faces = np.column_stack([np.full(len(shell.triangles), 3), shell.triangles]).ravel()
    path = tmp_path_factory.mktemp("mesh") / "shell.vtp"
    mesh = pv.PolyData(shell.vertices_mm, faces)
    mesh.point_data["Normals"] = shell.normals
    mesh.save(path)
    return shell, path


def test_surface_from_markups_and_init(shell_file, tmp_path, capsys):
    shell, path = shell_file
    truth = sample_patch(shell, 300, (1.0, 0.2, 0.3), 50.0, 0.1, 3)
    moving = apply_transform(invert_rigid(TRUTH), truth)
    write_markups(
        Markups(tuple(str(i) for i in range(len(moving))), moving), tmp_path / "p.mrk.json"
    )
    near = TRUTH @ make_rigid(
        Rotation.from_rotvec([0.02, 0.0, -0.03]).as_matrix(), [1.0, 2.0, -1.0]
    )
    (tmp_path / "init.json").write_text(json.dumps({"fixed_from_moving": near.tolist()}))
    status, report = _run(
        capsys, "register", "surface", str(path), str(tmp_path / "p.mrk.json"),
        "--init", str(tmp_path / "init.json"),
    )  # fmt: skip
    assert status == 0
    residual = np.array(report["fixed_from_moving"]) @ invert_rigid(TRUTH)
    assert math.degrees(Rotation.from_matrix(residual[:3, :3]).magnitude()) < 0.5
    centre = truth.mean(axis=0)
    assert np.linalg.norm(apply_transform(residual, centre) - centre) < 0.3
    assert report["converged"]
    assert report["inlier_fraction"] > 0.95
    assert report["warnings"] == []


def test_surface_from_markups_facing_an_approach_direction(shell_file, tmp_path, capsys):
    shell, path = shell_file
    truth = sample_patch(shell, 300, (1.0, 0.2, 0.3), 50.0, 0.1, 5)
    moving = apply_transform(invert_rigid(TRUTH), truth)
    write_markups(Markups(tuple(map(str, range(len(moving)))), moving), tmp_path / "p.mrk.json")
    near = TRUTH @ make_rigid(Rotation.from_rotvec([0.0, 0.03, 0.02]).as_matrix(), [-1.0, 2, 0])
    (tmp_path / "init.json").write_text(json.dumps({"fixed_from_moving": near.tolist()}))
    approach = invert_rigid(TRUTH)[:3, :3] @ np.array([1.0, 0.2, 0.3])  # in the points' frame
    status, report = _run(
        capsys, "register", "surface", str(path), str(tmp_path / "p.mrk.json"),
        "--init", str(tmp_path / "init.json"), "--approach", ",".join(map(str, approach)),
    )  # fmt: skip
    assert status == 0, report
    residual = np.array(report["fixed_from_moving"]) @ invert_rigid(TRUTH)
    assert math.degrees(Rotation.from_matrix(residual[:3, :3]).magnitude()) < 0.5
    assert report["warnings"] == []


def test_surface_in_metres_warns_in_the_json_and_once_on_stderr(shell_file, tmp_path, capsys):
    """ICP returns its warnings and the command passes them on: each once on stderr, as the
    report says them (ICP itself logs nothing)."""
    shell, path = shell_file
    metres = sample_patch(shell, 300, (1.0, 0.2, 0.3), 50.0, 0.1, 3) / 1000.0
    write_markups(Markups(tuple(map(str, range(len(metres)))), metres), tmp_path / "p.mrk.json")
    status = main(["register", "surface", str(path), str(tmp_path / "p.mrk.json")])
    captured = capsys.readouterr()
    assert status == 0
    warnings = json.loads(captured.out)["warnings"]
    assert any("of the points end within 1 mm" in warning for warning in warnings)
    prefix = "gestes register surface: warning: "
    assert captured.err.splitlines() == [prefix + warning for warning in warnings]


@pytest.mark.parametrize("approach", ["1,0", "0,0,0", "a,b,c"])
def test_surface_approach_must_be_a_direction(shell_file, tmp_path, capsys, approach):
    _, path = shell_file
    write_markups(Markups(("1", "2", "3"), _fiducials()[:3]), tmp_path / "p.fcsv")
    status, message = _run(
        capsys, "register", "surface", str(path), str(tmp_path / "p.fcsv"), "--approach", approach
    )
    assert status == 2
    assert "--approach must be three numbers" in message


def test_surface_ct_without_threshold_is_a_user_error(tmp_path, capsys):
    write_markups(Markups(("1", "2", "3"), _fiducials()[:3]), tmp_path / "p.fcsv")
    status, message = _run(
        capsys, "register", "surface", str(tmp_path / "ct.nrrd"), str(tmp_path / "p.fcsv")
    )
    assert status == 2
    assert "--threshold" in message


def test_surface_of_a_ct_at_a_threshold(tmp_path, capsys):
    """An ellipsoid of bone in a small CT: points on it, shifted 2 mm, land back on it."""
    axes_mm = np.array([30.0, 22.0, 16.0])
    grid = np.mgrid[-40:41, -40:41, -40:41].astype(np.float64)  # x, y, z index = mm
    inside = np.sum((grid / axes_mm[:, None, None, None]) ** 2, axis=0) <= 1.0
    hu = np.where(inside, 1000, -1000).astype(np.int16).transpose(2, 1, 0)  # z, y, x
    image = sitk.GetImageFromArray(hu)
    image.SetOrigin((-40.0, -40.0, -40.0))
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    rng = np.random.default_rng(2)
    directions = rng.normal(size=(300, 3))
    directions[:, 0] = np.abs(directions[:, 0])  # the +x half
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    on_surface = directions / np.sqrt(np.sum((directions / axes_mm) ** 2, axis=1, keepdims=True))
    labels = tuple(str(i) for i in range(len(on_surface)))
    write_markups(Markups(labels, on_surface + np.array([2.0, 0.0, 0.0])), tmp_path / "p.mrk.json")
    status, report = _run(
        capsys, "register", "surface", str(tmp_path / "ct.nrrd"), str(tmp_path / "p.mrk.json"),
        "--threshold", "0",
    )  # fmt: skip
    assert status == 0
    assert report["rms"] < 0.5  # 1 mm voxels: the iso-surface is within ~0.3 mm of the ellipsoid
    assert report["inlier_fraction"] > 0.9
    assert np.linalg.norm(np.array(report["fixed_from_moving"])[:3, 3] + [2.0, 0.0, 0.0]) < 0.7


def _stylus_sweep(path, tips_mm, outward):
    """A recording of the stylus touching ``tips_mm`` (tracker frame), its shaft along the
    ``outward`` normals (the tip on the surface, the handle away from it), 0.2 mm of noise."""
    tip = BUILTIN_TOOLS["stylus"].tip_mm
    rng = np.random.default_rng(4)
    frames = []
    for index, (point, normal) in enumerate(zip(tips_mm, outward, strict=True)):
        # The tool's +z (tip at -z) along the outward normal, turned by a random spin about it.
        z = normal / np.linalg.norm(normal)
        x = np.cross(z, rng.normal(size=3))
        x /= np.linalg.norm(x)
        rotation = np.column_stack([x, np.cross(z, x), z])
        translation = point - rotation @ tip + rng.normal(0.0, 0.2, 3)
        pose = ToolPose("stylus", make_rigid(rotation, translation), PoseStatus.OK, 0.1)
        frames.append(Frame(index / 20.0, index, {"stylus": pose}))
    write_sequence(path, frames, ["stylus"])


def test_surface_of_a_phantom_ct_from_a_recording_as_in_the_readme(tmp_path, capsys):
    """``gestes register surface head/ct.nrrd --threshold 300 sweep.igs.mha --tool stylus --init
    points.json`` on the skull phantom, whose bone surface once held zero-area triangles."""
    scene = build_phantom(PhantomKind.SKULL, seed=0)
    ct = save_volume(scene.ct, tmp_path / "ct.nrrd")
    bone = extract_surface(scene.ct, scene.bone_threshold_hu, outer_only=True)
    vertices = np.asarray(bone.points)
    normals = np.asarray(bone.point_data["Normals"])
    centre = vertices.mean(axis=0)
    face = (vertices - centre) @ np.array([0.0, -1.0, 0.3]) > 60.0  # forehead, brows, nose
    picked = np.flatnonzero(face)[:: max(1, int(face.sum()) // 400)]
    tracker_from_image = invert_rigid(TRUTH)
    _stylus_sweep(
        tmp_path / "sweep.igs.mha",
        apply_transform(tracker_from_image, vertices[picked]),
        normals[picked] @ tracker_from_image[:3, :3].T,
    )
    near = TRUTH @ make_rigid(Rotation.from_rotvec([0.03, -0.02, 0.0]).as_matrix(), [2.0, -1, 1])
    (tmp_path / "points.json").write_text(json.dumps({"fixed_from_moving": near.tolist()}))
    status, report = _run(
        capsys, "register", "surface", str(ct), "--threshold", "300",
        str(tmp_path / "sweep.igs.mha"), "--tool", "Stylus",  # any case (issue 14.4)
        "--init", str(tmp_path / "points.json"),
    )  # fmt: skip
    assert status == 0, report
    residual = np.array(report["fixed_from_moving"]) @ invert_rigid(TRUTH)
    assert math.degrees(Rotation.from_matrix(residual[:3, :3]).magnitude()) < 0.5
    middle = vertices[picked].mean(axis=0)
    assert np.linalg.norm(apply_transform(residual, middle) - middle) < 0.5
    assert report["warnings"] == []


@pytest.mark.parametrize(
    "init",
    [
        "not a matrix",
        "1 0 0 0\n0 1 0\n0 0 1 0\n0 0 0 1\n",  # ragged text
        json.dumps({"fixed_from_moving": [[1, 0, 0, 0], [0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1]]}),
        json.dumps({"fixed_from_moving": [["a", 0, 0, 0]] * 4}),
        json.dumps({"fixed_from_moving": None}),
        json.dumps({"other": 1}),
        json.dumps([[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
    ],
    ids=["words", "ragged-text", "ragged-json", "strings", "null", "no-key", "3x3"],
)
def test_bad_init_file_is_a_user_error(shell_file, tmp_path, capsys, init):
    """Issue 14.5: a ragged or non-numeric matrix was a ValueError traceback."""
    shell, path = shell_file
    points = shell.vertices_mm[:: len(shell.vertices_mm) // 40]
    write_markups(Markups(tuple(map(str, range(len(points)))), points), tmp_path / "p.fcsv")
    (tmp_path / "init.txt").write_text(init)
    status, message = _run(
        capsys,
        "register",
        "surface",
        str(path),
        str(tmp_path / "p.fcsv"),
        "--init",
        str(tmp_path / "init.txt"),
    )
    assert status == 2
    assert "init.txt" in message


def test_init_as_a_bare_json_list_or_text_is_read(shell_file, tmp_path, capsys):
    shell, path = shell_file
    points = shell.vertices_mm[:: len(shell.vertices_mm) // 40]
    write_markups(Markups(tuple(map(str, range(len(points)))), points), tmp_path / "p.fcsv")
    for name, text in (
        ("init.json", json.dumps(np.eye(4).tolist())),
        ("init.txt", "1 0 0 0\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"),
    ):
        (tmp_path / name).write_text(text)
        status, report = _run(
            capsys, "register", "surface", str(path), str(tmp_path / "p.fcsv"),
            "--init", str(tmp_path / name),
        )  # fmt: skip
        assert status == 0, report


def test_too_few_points_for_icp_names_the_file(shell_file, tmp_path, capsys):
    _, path = shell_file
    write_markups(Markups(("1", "2", "3"), _fiducials()[:3]), tmp_path / "p.fcsv")
    status, message = _run(capsys, "register", "surface", str(path), str(tmp_path / "p.fcsv"))
    assert status == 2
    assert "p.fcsv gives 3 digitised points; a surface registration needs at least 6" in message


def test_corrupt_mesh_is_a_user_error(shell_file, tmp_path, capsys):
    _, path = shell_file
    cut = tmp_path / "cut.vtp"
    cut.write_bytes(path.read_bytes()[:1000])
    write_markups(Markups(("1", "2", "3"), _fiducials()[:3]), tmp_path / "p.fcsv")
    status, message = _run(capsys, "register", "surface", str(cut), str(tmp_path / "p.fcsv"))
    assert status == 2
    assert "cut.vtp: corrupt or truncated mesh" in message


def _pivot_recording(path, tip, pivot, slipped=(), cone_rad=0.5):
    rng = np.random.default_rng(0)
    frames = []
    for index in range(120):
        rotation = Rotation.from_rotvec(rng.uniform(-cone_rad, cone_rad, 3)).as_matrix()
        translation = pivot - rotation @ tip + rng.normal(0.0, 0.2, 3)
        if index in slipped:
            translation = translation + np.array([15.0, 0.0, 0.0])
        pose = ToolPose("stylus", make_rigid(rotation, translation), PoseStatus.OK, 0.1)
        frames.append(Frame(index / 60.0, index, {"stylus": pose}))
    write_sequence(path, frames, ["stylus"])


def test_pivot_recovers_the_tip(tmp_path, capsys):
    tip, pivot = np.array([0.5, -1.0, -120.0]), np.array([10.0, 20.0, -1400.0])
    _pivot_recording(tmp_path / "pivot.igs.mha", tip, pivot, slipped=range(0, 120, 10))
    status, report = _run(capsys, "pivot", str(tmp_path / "pivot.igs.mha"), "--tool", "stylus")
    assert status == 0
    np.testing.assert_allclose(report["tip_in_tool"], tip, atol=0.3)
    np.testing.assert_allclose(report["pivot_in_tracker"], pivot, atol=0.3)
    assert report["frames_used"] == 108
    assert report["rms"] < 0.6


def test_pivot_tool_names_match_whatever_their_case(tmp_path, capsys):
    """Issue 14.4: ``--tool Stylus`` for a recording's ``stylus`` failed."""
    tip, pivot = np.array([0.5, -1.0, -120.0]), np.array([10.0, 20.0, -1400.0])
    _pivot_recording(tmp_path / "pivot.igs.mha", tip, pivot)
    status, report = _run(capsys, "pivot", str(tmp_path / "pivot.igs.mha"), "--tool", "STYLUS")
    assert status == 0, report
    assert report["tool"] == "stylus"


def test_pivot_frames_option_limits_the_calibration(tmp_path, capsys):
    tip, pivot = np.array([0.5, -1.0, -120.0]), np.array([10.0, 20.0, -1400.0])
    _pivot_recording(tmp_path / "pivot.igs.mha", tip, pivot)
    status, report = _run(
        capsys, "pivot", str(tmp_path / "pivot.igs.mha"), "--tool", "stylus", "--frames", "20:79"
    )
    assert status == 0, report
    assert report["frames_used"] == 60
    assert report["pivoting_frames"] == [20, 79]
    status, message = _run(
        capsys, "pivot", str(tmp_path / "pivot.igs.mha"), "--tool", "stylus", "--frames", "90:500"
    )
    assert status == 2
    assert "--frames 90:500" in message


def test_pivot_of_the_demo_recording_finds_the_pivoting_and_does_not_warn(tmp_path, capsys):
    """The README's ``gestes pivot demo.igs.mha``: the recording also holds the four touches
    after the pivoting, which were taken for slipped frames (a warning)."""
    recording = tmp_path / "demo.igs.mha"
    assert main(["record", "--tracker", "sim:demo", "--out", str(recording)]) == 0
    capsys.readouterr()
    status, report = _run(capsys, "pivot", str(recording), "--tool", "stylus")
    assert status == 0, report
    assert report["warnings"] == []
    first, last = report["pivoting_frames"]
    # The session's pivot (scenes.demo_session), at 60 frames/s, found within 0.2 s.
    from guidance.simulation import stylus_geometry
    from scenes.demo_session import demo_motion

    pivot = demo_motion(stylus_geometry(BUILTIN_TOOLS["stylus"])).events[0]
    assert abs(first - 60.0 * pivot.start_s) <= 12 and abs(last - 60.0 * pivot.end_s) <= 12
    np.testing.assert_allclose(report["tip_in_tool"], BUILTIN_TOOLS["stylus"].tip_mm, atol=0.2)


def test_pivot_in_a_narrow_cone_warns_in_the_json_and_once_on_stderr(tmp_path, capsys):
    """The calibration returns its warnings and the command passes them on, each once (the
    calibration itself logs nothing, so an exercise's summary does not repeat them)."""
    tip, pivot = np.array([0.5, -1.0, -120.0]), np.array([10.0, 20.0, -1400.0])
    _pivot_recording(tmp_path / "pivot.igs.mha", tip, pivot, cone_rad=0.2)
    status = main(["pivot", str(tmp_path / "pivot.igs.mha"), "--tool", "stylus"])
    captured = capsys.readouterr()
    assert status == 0
    warnings = json.loads(captured.out)["warnings"]
    assert any("wider cone" in warning for warning in warnings)
    assert captured.err.splitlines() == [f"gestes pivot: warning: {w}" for w in warnings]


def test_pivot_unknown_tool_is_a_user_error(tmp_path, capsys):
    _pivot_recording(tmp_path / "pivot.igs.mha", np.array([0.0, 0, -100]), np.zeros(3))
    status, message = _run(capsys, "pivot", str(tmp_path / "pivot.igs.mha"), "--tool", "needle")
    assert status == 2
    assert "no tool 'needle'" in message


SHARED_MARKUPS = SHARED_DATA / "markups"
F5 = SHARED_MARKUPS / "sksurgerycore_F_5.mrk.json"


def test_points_of_a_real_slicer_file(tmp_path, capsys):
    """scikit-surgerycore's 20-fiducial Slicer file against a moved copy of itself."""
    fixed = read_markups(F5)
    moved = Markups(fixed.labels, apply_transform(invert_rigid(TRUTH), fixed.points_mm))
    write_markups(moved, tmp_path / "moved.mrk.json")
    status, report = _run(capsys, "register", "points", str(F5), str(tmp_path / "moved.mrk.json"))
    assert status == 0
    np.testing.assert_allclose(report["fixed_from_moving"], TRUTH, atol=1e-6)
    assert report["paired_by"] == "label"
    assert len(report["residuals"]) == 20
