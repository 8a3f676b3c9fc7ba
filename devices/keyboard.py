"""A tracker with no hardware at all: a virtual stylus moved from the keyboard and the mouse, and a
reference tool that stays where it was put. A student can practise navigation at home.

The navigation window hands its key presses (X keysyms: ``Left``, ``Prior``, ``w``...) to
``press`` and its mouse drags (a displacement in mm) to ``drag``; both are thread-safe, since the
window runs on the main thread while the acquisition thread reads the tracker. Frames are sampled
at ``rate_hz`` on the injected clock, like a live device, and stamped by that clock. While the
window draws it cannot take keys (they wait in its queue), so it ``hold``s the tracker: no frame
is handed out until it ``release``s it, having taken them. Otherwise a slow drawing (over a
second, on a busy laptop) in the middle of a move would show the stylus standing still where the
drawing began, which an exercise takes for the student holding the tip there.

Directions are in the tracker frame. ``gestes navigate --tracker keyboard`` puts the reference
at the tracker's origin and registers it to the CT with the identity, so tracker, reference and
CT (LPS) frames coincide: ``Right`` moves the stylus toward the patient's left (+x), ``Up``
superior (+z), ``Prior`` (Page Up) anterior (-y).
"""

import math
import threading
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from devices.acquisition import RawFrame, RawPose, TrackerDevice
from devices.clock import Clock
from devices.exceptions import ConfigurationError, FrameNotDue
from devices.frame import PoseStatus
from devices.tools import BUILTIN_TOOLS, ToolDefinition
from registration.transforms import as_rigid, make_rigid, rotation_from_vector

# What one key press does: a step in mm, a tilt in radians.
STEP_MM = 1.0
TILT_STEP_RAD = math.radians(2.0)
# A right-button drag of this many mm tilts the stylus by one radian toward the drag.
TILT_LEVER_MM = 100.0
DEFAULT_RATE_HZ = 60.0


@dataclass(frozen=True)
class KeyAction:
    """What a key does: move the stylus by ``move_mm`` (tracker frame), advance it by
    ``push_mm`` along the way it points, or tilt it about its tip by ``tilt_rad`` (a rotation
    vector, tracker frame)."""

    move_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    push_mm: float = 0.0
    tilt_rad: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _axis(index: int, size: float) -> tuple[float, float, float]:
    vector = [0.0, 0.0, 0.0]
    vector[index] = size
    return (vector[0], vector[1], vector[2])


# X keysyms (as VTK's interactor names them) -> actions. The window keeps q, Escape and r.
KEY_MAP = MappingProxyType(
    {
        "Right": KeyAction(move_mm=_axis(0, STEP_MM)),
        "Left": KeyAction(move_mm=_axis(0, -STEP_MM)),
        "Up": KeyAction(move_mm=_axis(2, STEP_MM)),
        "Down": KeyAction(move_mm=_axis(2, -STEP_MM)),
        "Prior": KeyAction(move_mm=_axis(1, -STEP_MM)),
        "Next": KeyAction(move_mm=_axis(1, STEP_MM)),
        "w": KeyAction(push_mm=STEP_MM),
        "s": KeyAction(push_mm=-STEP_MM),
        "i": KeyAction(tilt_rad=_axis(0, TILT_STEP_RAD)),
        "k": KeyAction(tilt_rad=_axis(0, -TILT_STEP_RAD)),
        "j": KeyAction(tilt_rad=_axis(1, TILT_STEP_RAD)),
        "l": KeyAction(tilt_rad=_axis(1, -TILT_STEP_RAD)),
        "u": KeyAction(tilt_rad=_axis(2, TILT_STEP_RAD)),
        "o": KeyAction(tilt_rad=_axis(2, -TILT_STEP_RAD)),
    }
)
KEY_HELP = (
    "arrows: left/right, superior/inferior; Page Up/Down: anterior/posterior; w/s: push/pull "
    "along the stylus; i/k, j/l, u/o: tilt about x, y, z; mouse: drag in a slice to move, "
    "right-drag to tilt, wheel to move across it"
)


class KeyboardTracker(TrackerDevice):
    """A virtual ``stylus`` (its definition gives the tip and the way it points) starting at
    ``tracker_from_stylus``, and a fixed reference at ``tracker_from_reference`` (4x4, mm),
    sampled at ``rate_hz`` on ``clock``. Tool names are ``stylus.name`` and ``"reference"``."""

    def __init__(
        self,
        tracker_from_stylus: np.ndarray | None = None,
        tracker_from_reference: np.ndarray | None = None,
        stylus: ToolDefinition = BUILTIN_TOOLS["stylus"],
        rate_hz: float = DEFAULT_RATE_HZ,
        clock: Clock | None = None,
    ) -> None:
        if stylus.tip_mm is None:
            raise ConfigurationError(f"the keyboard stylus {stylus.name!r} needs a tip")
        super().__init__((stylus.name, "reference"), rate_hz=rate_hz, speed=1.0, clock=clock)
        start = np.eye(4) if tracker_from_stylus is None else tracker_from_stylus
        reference = np.eye(4) if tracker_from_reference is None else tracker_from_reference
        self._start = as_rigid(start, "the keyboard stylus's start pose").copy()
        self._reference = as_rigid(reference, "the keyboard reference pose").copy()
        self._reference.setflags(write=False)
        self._tip_mm = np.array(stylus.tip_mm)
        shaft = self._tip_mm - stylus.centroid_mm
        self._pointing = shaft / np.linalg.norm(shaft)
        self._lock = threading.Lock()
        self._pose = self._start.copy()
        self._keys_taken = threading.Condition(self._lock)
        self._held = False

    def __str__(self) -> str:
        return "the keyboard tracker"

    @property
    def tracker_from_stylus(self) -> np.ndarray:
        """The stylus pose now (a copy; 4x4, mm)."""
        with self._lock:
            return self._pose.copy()

    @property
    def tip_mm(self) -> np.ndarray:
        """The stylus tip now, tracker frame (mm)."""
        pose = self.tracker_from_stylus
        return pose[:3, :3] @ self._tip_mm + pose[:3, 3]

    def move(self, dx_mm: float, dy_mm: float, dz_mm: float) -> None:
        """Translate the stylus by (dx, dy, dz) mm in the tracker frame."""
        step = np.array([dx_mm, dy_mm, dz_mm], dtype=np.float64)
        if not np.all(np.isfinite(step)):
            raise ConfigurationError(f"a keyboard move must be finite; got {step}")
        with self._lock:
            self._pose[:3, 3] += step

    def push(self, distance_mm: float) -> None:
        """Advance the stylus ``distance_mm`` along the way it points (negative: pull back)."""
        with self._lock:
            self._pose[:3, 3] += distance_mm * (self._pose[:3, :3] @ self._pointing)

    def tilt(self, rotation_vector_rad: np.ndarray) -> None:
        """Turn the stylus about its tip by the rotation vector (rad, tracker frame)."""
        rotation = rotation_from_vector(np.asarray(rotation_vector_rad, dtype=np.float64))
        with self._lock:
            tip = self._pose[:3, :3] @ self._tip_mm + self._pose[:3, 3]
            turned = rotation @ self._pose[:3, :3]
            self._pose = make_rigid(turned, tip - turned @ self._tip_mm)

    def reset(self) -> None:
        """Put the stylus back where it started."""
        with self._lock:
            self._pose = self._start.copy()

    def press(self, keysym: str) -> bool:
        """Do what ``KEY_MAP`` says for the key; False for a key it does not know."""
        action = KEY_MAP.get(keysym)
        if action is None:
            return False
        self.move(*action.move_mm)
        if action.push_mm:
            self.push(action.push_mm)
        if any(action.tilt_rad):
            self.tilt(np.array(action.tilt_rad))
        return True

    def drag(self, delta_mm: np.ndarray, tilt: bool = False) -> None:
        """A mouse drag of ``delta_mm`` (tracker frame): move the stylus by it, or with
        ``tilt`` turn it about its tip toward the drag (``TILT_LEVER_MM`` mm per radian)."""
        delta = np.asarray(delta_mm, dtype=np.float64)
        if not tilt:
            self.move(*delta)
            return
        pointing = self.tracker_from_stylus[:3, :3] @ self._pointing
        self.tilt(np.cross(pointing, delta) / TILT_LEVER_MM)

    def hold(self) -> None:
        """Hand out no frame until ``release``: the window that moves the stylus is about to
        draw, and keys pressed meanwhile will wait in its queue (see the module docstring)."""
        with self._keys_taken:
            self._held = True

    def release(self) -> None:
        """Hand out frames again: the window has taken the keys that came while it drew."""
        with self._keys_taken:
            self._held = False
            self._keys_taken.notify_all()

    def _open(self) -> None:
        """Nothing to open: the stylus stays where the keys left it."""

    def _read_raw(self, timeout_s: float | None) -> RawFrame:
        with self._keys_taken:
            if self._held:  # the sample this read is for is not known: read the next one
                self._keys_taken.wait_for(lambda: not self._held, timeout_s)
                raise FrameNotDue(f"{self} waits for its window to take the keys it was given")
            stylus = self._pose.copy()
        poses = {
            self.tools[0]: RawPose(stylus, PoseStatus.OK),
            "reference": RawPose(self._reference, PoseStatus.OK),
        }
        return RawFrame(self.sample_index, None, poses)

    def _close(self) -> None:
        """Nothing to release."""
