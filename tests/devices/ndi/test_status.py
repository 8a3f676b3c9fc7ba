"""Status bits to PoseStatus: one test per port-status bit and handle state."""

import pytest

from devices.frame import PoseStatus
from devices.ndi.status import HandleState, PortStatus, SystemStatus, pose_status

TRACKED = PortStatus.OCCUPIED | PortStatus.INITIALIZED | PortStatus.ENABLED


def test_valid_enabled_tool_is_ok():
    assert pose_status(HandleState.VALID, TRACKED) is PoseStatus.OK


def test_missing_state_is_missing():
    assert pose_status(HandleState.MISSING, TRACKED) is PoseStatus.MISSING


def test_disabled_state_is_disabled_whatever_the_bits():
    assert pose_status(HandleState.DISABLED, 0xFF) is PoseStatus.DISABLED


def test_out_of_volume_bit_on_missing_tool():
    status = pose_status(HandleState.MISSING, TRACKED | PortStatus.OUT_OF_VOLUME)
    assert status is PoseStatus.OUT_OF_VOLUME


def test_out_of_volume_bit_on_reported_transform():
    status = pose_status(HandleState.VALID, TRACKED | PortStatus.OUT_OF_VOLUME)
    assert status is PoseStatus.OUT_OF_VOLUME


def test_partially_in_volume_bit_keeps_a_valid_pose():
    status = pose_status(HandleState.VALID, TRACKED | PortStatus.PARTIALLY_IN_VOLUME)
    assert status is PoseStatus.PARTIALLY_OUT_OF_VOLUME


def test_partially_in_volume_bit_on_missing_tool_stays_missing():
    status = pose_status(HandleState.MISSING, TRACKED | PortStatus.PARTIALLY_IN_VOLUME)
    assert status is PoseStatus.MISSING


@pytest.mark.parametrize(
    "bit",
    [
        PortStatus.OCCUPIED,
        PortStatus.SWITCH_1_ON,
        PortStatus.SWITCH_2_ON,
        PortStatus.SWITCH_3_ON,
        PortStatus.INITIALIZED,
        PortStatus.ENABLED,
    ],
)
def test_informational_bits_do_not_change_the_status(bit):
    assert pose_status(HandleState.VALID, bit) is PoseStatus.OK
    assert pose_status(HandleState.VALID, TRACKED & ~bit) is PoseStatus.OK
    assert pose_status(HandleState.MISSING, bit) is PoseStatus.MISSING


def test_port_status_bit_values_follow_ndicapi():
    expected = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80]
    assert [int(bit) for bit in PortStatus] == expected


def test_system_status_decodes_into_named_flags():
    flags = SystemStatus(0x0002 | 0x0010)
    assert SystemStatus.TOO_MUCH_EXTERNAL_INFRARED in flags
    assert SystemStatus.HARDWARE_FAILURE in flags
    assert SystemStatus.COMM_CRC_ERROR not in flags
