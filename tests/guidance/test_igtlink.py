"""The OpenIGTLink sender as a pyigtl client (what 3D Slicer would do) sees it: the CT where it
belongs in RAS, the points, the transforms with their values and times; clients come and go."""

import numpy as np
import pyigtl
import pytest
import SimpleITK as sitk

from devices.exceptions import ConfigurationError
from devices.frame import Frame, PoseStatus, ToolPose
from devices.igtl.settings import ServerSettings
from guidance.igtlink import IgtlSender
from guidance.navigator import NavigationPlan, Navigator, ToolTip
from registration.transforms import invert_rigid, make_rigid, rotation_from_vector
from scenes.scene import Scene
from tests.devices.igtl.peers import DEADLINE_S, wait_until

EPOCH = 1.7e9


def _oblique_scene() -> Scene:
    """A small CT with every voxel distinct, turned and anisotropic, off the origin."""
    voxels = (np.arange(8 * 10 * 12).reshape(8, 10, 12) * 3 - 1000).astype(np.int16)
    ct = sitk.GetImageFromArray(voxels)
    ct.SetSpacing((0.8, 0.9, 1.5))
    ct.SetOrigin((10.0, -20.0, 30.0))
    ct.SetDirection(rotation_from_vector(np.array([0.2, -0.4, 0.7])).ravel().tolist())
    return Scene(
        "oblique",
        ct,
        np.array([[12.0, -15.0, 33.0], [20.0, -10.0, 40.0]]),
        ("F1", "F2"),
        np.array([[15.0, -12.5, 35.5]]),
        ("tumour",),
    )


def _frame(stylus: np.ndarray, reference: np.ndarray | None, timestamp: float = 12.5) -> Frame:
    poses = {"stylus": ToolPose("stylus", stylus, PoseStatus.OK, 0.1)}
    poses["reference"] = (
        ToolPose.missing("reference")
        if reference is None
        else ToolPose("reference", reference, PoseStatus.OK, 0.1)
    )
    return Frame(timestamp, 7, poses)


STYLUS = make_rigid(
    rotation_from_vector(np.array([0.1, 0.5, -0.3])), np.array([10.0, 20.0, -1500.0])
)
REFERENCE = make_rigid(
    rotation_from_vector(np.array([-0.6, 0.2, 0.1])), np.array([-80.0, 5.0, -1450.0])
)


@pytest.fixture
def sender():
    sender = IgtlSender(
        ServerSettings(port=0), ("stylus", "reference"), _oblique_scene(), epoch_offset_s=EPOCH
    )
    sender.start()
    yield sender
    sender.stop()


@pytest.fixture
def client(sender):
    client = pyigtl.OpenIGTLinkClient("127.0.0.1", sender.address[1])
    wait_until(lambda: sender.server.client_count == 1, "the client to connect")
    yield client
    client.stop()


def test_ct_arrives_in_ras_with_every_voxel_where_the_scene_has_it(sender, client):
    ct = _oblique_scene().ct
    image = client.wait_for_message("CT", timeout=DEADLINE_S)
    assert image.world_coordinate_system == "ras"
    np.testing.assert_array_equal(image.image, sitk.GetArrayViewFromImage(ct))
    for ijk in [(0, 0, 0), (11, 9, 7), (3, 7, 5), (11, 0, 7)]:
        x, y, z = ct.TransformIndexToPhysicalPoint(ijk)  # LPS
        ras = image.ijk_to_world_matrix @ [*ijk, 1.0]
        np.testing.assert_allclose(ras[:3], [-x, -y, z], atol=1e-4)


def test_fiducials_and_targets_arrive_as_ras_points(sender, client):
    fiducials = client.wait_for_message("Fiducials", timeout=DEADLINE_S)
    targets = client.wait_for_message("Targets", timeout=DEADLINE_S)
    assert fiducials.names == ["F1", "F2"] and targets.names == ["tumour"]
    np.testing.assert_allclose(fiducials.positions, [[-12.0, 15.0, 33.0], [-20.0, 10.0, 40.0]])
    np.testing.assert_allclose(targets.positions, [[-15.0, 12.5, 35.5]])
    assert fiducials.groups == ["Fiducial", "Fiducial"] and targets.groups == ["Target"]


def test_transforms_to_tracker_and_to_reference_with_their_times(sender, client):
    sender(_frame(STYLUS, REFERENCE))
    expected = {
        "StylusToTracker": STYLUS,
        "ReferenceToTracker": REFERENCE,
        "StylusToReference": invert_rigid(REFERENCE) @ STYLUS,
    }
    for name, matrix in expected.items():
        message = client.wait_for_message(name, timeout=DEADLINE_S)
        assert message is not None, name
        np.testing.assert_allclose(message.matrix, matrix, rtol=0, atol=2e-4)  # float32 of mm
        assert message.timestamp == pytest.approx(EPOCH + 12.5, abs=1e-6)


def test_a_tool_that_is_not_seen_is_not_sent(sender, client):
    sender(_frame(STYLUS, None))
    assert client.wait_for_message("StylusToTracker", timeout=DEADLINE_S) is not None
    assert client.wait_for_message("StylusToReference", timeout=0.2) is None
    assert client.wait_for_message("ReferenceToTracker", timeout=0.0) is None


def test_a_client_that_leaves_and_another_that_comes(sender, client):
    client.stop()
    wait_until(lambda: sender.server.client_count == 0, "the server to see the client go")
    sender(_frame(STYLUS, REFERENCE))  # no client: nothing to do, no error
    second = pyigtl.OpenIGTLinkClient("127.0.0.1", sender.address[1])
    try:
        wait_until(lambda: sender.server.client_count == 1, "the second client")
        assert second.wait_for_message("CT", timeout=DEADLINE_S) is not None
        moved = STYLUS.copy()
        moved[:3, 3] += 5.0
        sender(_frame(moved, REFERENCE, 13.0))
        message = second.wait_for_message("StylusToTracker", timeout=DEADLINE_S)
        np.testing.assert_allclose(message.matrix, moved, atol=2e-4)
    finally:
        second.stop()


def test_a_tool_name_too_long_for_openigtlink_is_refused_before_serving():
    with pytest.raises(ConfigurationError, match="give the tool a shorter name"):
        IgtlSender(ServerSettings(port=0), ("stylus", "calibration_phantom"))


def test_navigation_state_goes_out_in_the_ct_frame_as_slicer_shows_it(sender, client):
    """The tip's RAS position lands on the CT voxel where the navigator (LPS) puts it."""
    scene = _oblique_scene()
    image_from_reference = make_rigid(
        rotation_from_vector(np.array([0.4, -0.1, 0.2])), np.array([30.0, -40.0, 1460.0])
    )
    tip = ToolTip.pointing(np.array([0.0, 0.0, -160.0]), np.zeros(3))
    navigator = Navigator(NavigationPlan.from_scene(scene), image_from_reference, tip)
    frame = _frame(STYLUS, REFERENCE)
    state = navigator.navigate(frame)
    assert state.tracked
    sender(frame, state)
    ras = np.diag([-1.0, -1.0, 1.0, 1.0])
    expected = {
        "ReferenceToImage": ras @ image_from_reference,
        "StylusToImage": ras @ state.image_from_stylus,
    }
    for name, matrix in expected.items():
        message = client.wait_for_message(name, timeout=DEADLINE_S)
        np.testing.assert_allclose(message.matrix, matrix, rtol=0, atol=5e-4)
    tip_message = client.wait_for_message("StylusTipToImage", timeout=DEADLINE_S)
    np.testing.assert_allclose(
        tip_message.matrix[:3, :3], expected["StylusToImage"][:3, :3], atol=1e-6
    )
    image = client.wait_for_message("CT", timeout=DEADLINE_S)
    ijk = np.linalg.solve(image.ijk_to_world_matrix, tip_message.matrix[:, 3])[:3]
    np.testing.assert_allclose(
        ijk, scene.ct.TransformPhysicalPointToContinuousIndex(state.tip_mm.tolist()), atol=1e-3
    )
