"""PLUS -> gestes -> Slicer: a pyigtl server stands in for PlusServer, the ``igtl:`` tracker feeds
a navigation session (recording, navigator), whose OpenIGTLink sender feeds a pyigtl client
standing in for 3D Slicer. The tip it sees is where the navigator puts it, in RAS."""

import time

import numpy as np
import pyigtl

from devices.igtl.settings import ServerSettings
from devices.igtl.tracker import IgtlTracker
from devices.sequence_file import read_sequence
from guidance.igtlink import IgtlSender
from guidance.navigator import NavigationPlan, Navigator, ToolTip
from guidance.session import NavigationSession
from registration.transforms import invert_rigid, make_rigid, rotation_from_vector
from tests.devices.igtl.peers import DEADLINE_S, pyigtl_server, wait_until

STYLUS = make_rigid(rotation_from_vector(np.array([0.2, -0.3, 0.1])), np.array([5.0, 20, -1400]))
REFERENCE = make_rigid(rotation_from_vector(np.array([0.0, 0.4, 0.0])), np.array([-60.0, 0, -1500]))
IMAGE_FROM_REFERENCE = make_rigid(
    rotation_from_vector(np.array([0.1, 0.0, 0.3])), np.array([1, 2, 3])
)
TIP = ToolTip(np.array([0.0, 0.0, -150.0]), np.array([0.0, 0.0, -1.0]))
PLAN = NavigationPlan(("target",), np.array([[0.0, 0.0, 0.0]]))


def test_plus_to_gestes_to_slicer(tmp_path):
    path = tmp_path / "run.igs.mha"
    with pyigtl_server() as plus:
        tracker = IgtlTracker("127.0.0.1", plus.server_address[1])
        navigator = Navigator(PLAN, IMAGE_FROM_REFERENCE, TIP)
        with IgtlSender(ServerSettings(port=0), tracker.tools) as sender:
            session = NavigationSession(tracker, navigator, path, (sender,))
            session.start()
            slicer = pyigtl.OpenIGTLinkClient("127.0.0.1", sender.address[1])
            try:
                wait_until(plus.is_connected, "gestes to connect to the PLUS stand-in")
                wait_until(lambda: sender.server.client_count == 1, "the Slicer stand-in")
                tip = None
                for k in range(int(DEADLINE_S / 0.02)):
                    for name, pose in (
                        ("StylusToTracker", STYLUS),
                        ("ReferenceToTracker", REFERENCE),
                    ):
                        plus.send_message(
                            pyigtl.TransformMessage(pose, 1e9 + k * 0.02, name), False
                        )
                    time.sleep(0.02)
                    if (tip := slicer.wait_for_message("StylusTipToImage", timeout=0)) is not None:
                        break
            finally:
                slicer.stop()
                session.stop()
    assert tip is not None
    image_from_stylus = IMAGE_FROM_REFERENCE @ invert_rigid(REFERENCE) @ STYLUS
    tip_lps = image_from_stylus @ [*TIP.tip_mm, 1.0]
    np.testing.assert_allclose(tip.matrix[:3, 3], tip_lps[:3] * [-1, -1, 1], atol=2e-3)
    recording = read_sequence(path)
    assert recording.tools == ("stylus", "reference") and len(recording) >= 1
