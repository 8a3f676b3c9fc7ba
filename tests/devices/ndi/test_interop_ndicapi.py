"""Interop: the PyPI ndicapi library (ndicapy) tracks through our emulator and reads our values.

The emulator runs in a child process and ndicapy in another (it holds the GIL while waiting),
each with a timeout, so a misbehaving side fails the test instead of hanging it.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devices.ndi.emulator.process import EmulatorProcess
from devices.ndi.emulator.settings import EmulatorSettings, Faults, Model
from devices.ndi.quaternion import quaternion_from_rigid
from devices.rom import rom_image
from devices.tools import BUILTIN_TOOLS
from tests.devices.ndi.sources import ERROR_RMS_MM, CountingSource, expected_pose

REPOSITORY = Path(__file__).resolve().parents[3]
CLIENT_TIMEOUT_S = 30.0
BX_TOLERANCE = 1e-5  # float32 values
TX_QUATERNION_TOLERANCE = 0.6e-4  # TX resolution 1e-4
TX_TRANSLATION_TOLERANCE_MM = 0.006  # TX resolution 0.01 mm


def run_client(port: str, model: str, rom: Path | None = None) -> dict:
    command = [sys.executable, "-m", "tests.devices.ndi.ndicapi_client", port, model]
    if rom is not None:
        command.append(str(rom))
    result = subprocess.run(
        command,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def expected_values(tool_index: int, frame_number: int) -> np.ndarray:
    pose = expected_pose(tool_index, frame_number)
    return np.array([*quaternion_from_rigid(pose), *pose[:3, 3], ERROR_RMS_MM])


@pytest.fixture
def rom_file(tmp_path) -> Path:
    path = tmp_path / "stylus.rom"
    path.write_bytes(rom_image(BUILTIN_TOOLS["stylus"].markers_mm))
    return path


def test_ndicapi_tracks_passive_tools_through_the_polaris_emulator(rom_file):
    with EmulatorProcess(CountingSource) as emulator:
        seen = run_client(emulator.port, "polaris", rom_file)
    assert seen["probe"] == 0
    assert (seen["init"], seen["comm"], seen["tstart"], seen["tstop"]) == ("OKAY",) * 4
    assert seen["ver"].startswith("Polaris")
    assert "0x0c" in seen["tx_before_tstart"].lower()
    assert seen["handles"] == [0x0A, 0x0B]
    assert seen["bx_frame"] == 0
    assert seen["bx_port_status"] == 0x31
    for index, values in enumerate(seen["bx"]):
        np.testing.assert_allclose(values, expected_values(index, 0), atol=BX_TOLERANCE, rtol=1e-6)
    assert seen["tx_frame"] == 1
    for index, values in enumerate(seen["tx"]):
        expected = expected_values(index, 1)
        np.testing.assert_allclose(values[:4], expected[:4], atol=TX_QUATERNION_TOLERANCE)
        np.testing.assert_allclose(values[4:7], expected[4:7], atol=TX_TRANSLATION_TOLERANCE_MM)
    assert seen["error"] == 0


def test_ndicapi_initialises_split_aurora_sensors_and_sees_a_missing_one():
    settings = EmulatorSettings(
        model=Model.AURORA,
        aurora_sensors=((1, 0), (1, 1)),
        faults=Faults(missing_tools={"reference"}),
    )
    with EmulatorProcess(CountingSource, settings) as emulator:
        seen = run_client(emulator.port, "aurora")
    assert seen["ver"].startswith("Aurora")
    assert seen["handles"] == [0x0A, 0x0B]  # the second appears after the first's PINIT
    np.testing.assert_allclose(seen["bx"][0], expected_values(0, 0), atol=BX_TOLERANCE, rtol=1e-6)
    assert seen["bx"][1] == "MISSING"
    assert seen["tx"][1] == "MISSING"
