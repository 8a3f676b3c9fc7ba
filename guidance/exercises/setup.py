"""What an exercise's evaluation needs besides the recording, written beside it as ``run.json``.

A recording holds the tool poses only. Scoring also needs the tip the navigator used, the CT
points the fiducials were localised at and, in simulation, the ground truth (where the phantom
and the reference really were, the true tip, where the student's tip really rested). Stored
with the run at full float precision (JSON writes ``repr`` of each float), replaying the
recording with this file gives the same score, bit for bit.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from guidance.exceptions import GuidanceError

RUN_FILE = "run.json"
FORMAT_VERSION = 1


def _array(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    array = np.array(value, dtype=np.float64)
    if array.shape != shape or not np.all(np.isfinite(array)):
        raise GuidanceError(f"{RUN_FILE}: {what} must be finite numbers of shape {shape}")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class TruthEvent:
    """A task of the simulated student: ``label``, ``phase``, when, and where the true tip was
    (CT frame, mm; NaN when it moved, as in a sweep)."""

    label: str
    phase: str
    start_s: float
    end_s: float
    tip_image_mm: np.ndarray


@dataclass(frozen=True, eq=False)
class Truth:
    """The ground truth of a simulated run (4x4 transforms, mm): where the phantom stood in the
    tracker, where the reference tool sat on it, the stylus's true tip, the student's tasks."""

    tracker_from_image: np.ndarray
    image_from_reference: np.ndarray
    tip_in_stylus_mm: np.ndarray
    events: tuple[TruthEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracker_from_image": self.tracker_from_image.tolist(),
            "image_from_reference": self.image_from_reference.tolist(),
            "tip_in_stylus_mm": self.tip_in_stylus_mm.tolist(),
            "events": [
                {
                    "label": e.label,
                    "phase": e.phase,
                    "start_s": e.start_s,
                    "end_s": e.end_s,
                    "tip_image_mm": [None if np.isnan(v) else float(v) for v in e.tip_image_mm],
                }
                for e in self.events
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Truth":
        try:
            events = tuple(
                TruthEvent(
                    str(e["label"]),
                    str(e["phase"]),
                    float(e["start_s"]),
                    float(e["end_s"]),
                    np.array([np.nan if v is None else v for v in e["tip_image_mm"]], float),
                )
                for e in data.get("events", [])
            )
            return cls(
                _array(data["tracker_from_image"], (4, 4), "truth.tracker_from_image"),
                _array(data["image_from_reference"], (4, 4), "truth.image_from_reference"),
                _array(data["tip_in_stylus_mm"], (3,), "truth.tip_in_stylus_mm"),
                events,
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GuidanceError(f"{RUN_FILE}: the truth section is incomplete ({error})") from None


@dataclass(frozen=True, eq=False)
class ExerciseSetup:
    """How a run was set up: the exercise, scene, tracker, seed and skill as given; the tool tip
    the navigator used (stylus frame, mm), where it came from and what its calibration warned
    about; the tool names; the CT points of the scene's fiducials as localised (label -> (3,)
    LPS mm); the error sources simulated (names -> on/off; empty for a real tracker); the ground
    truth (simulation only)."""

    exercise: str
    scene: str
    tracker: str
    seed: int
    skill: str
    tool_tip_mm: np.ndarray
    tool_tip_source: str
    stylus: str = "stylus"
    reference: str = "reference"
    ct_fiducials_mm: Mapping[str, np.ndarray] = field(default_factory=dict)
    errors: Mapping[str, bool] = field(default_factory=dict)
    truth: Truth | None = None
    tool_tip_warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "exercise": self.exercise,
            "scene": self.scene,
            "tracker": self.tracker,
            "seed": self.seed,
            "skill": self.skill,
            "tool_tip_mm": self.tool_tip_mm.tolist(),
            "tool_tip_source": self.tool_tip_source,
            "tool_tip_warnings": list(self.tool_tip_warnings),
            "stylus": self.stylus,
            "reference": self.reference,
            "ct_fiducials_mm": {k: v.tolist() for k, v in self.ct_fiducials_mm.items()},
            "errors": dict(self.errors),
            "truth": None if self.truth is None else self.truth.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ExerciseSetup":
        if data.get("format_version") != FORMAT_VERSION:
            raise GuidanceError(
                f"{RUN_FILE}: format_version {data.get('format_version')!r}; this gestes reads "
                f"{FORMAT_VERSION}"
            )
        try:
            return cls(
                exercise=str(data["exercise"]),
                scene=str(data["scene"]),
                tracker=str(data["tracker"]),
                seed=int(data["seed"]),
                skill=str(data["skill"]),
                tool_tip_mm=_array(data["tool_tip_mm"], (3,), "tool_tip_mm"),
                tool_tip_source=str(data["tool_tip_source"]),
                stylus=str(data["stylus"]),
                reference=str(data["reference"]),
                ct_fiducials_mm={
                    str(k): _array(v, (3,), f"ct_fiducials_mm.{k}")
                    for k, v in data["ct_fiducials_mm"].items()
                },
                errors={str(k): bool(v) for k, v in data["errors"].items()},
                truth=None if data["truth"] is None else Truth.from_dict(data["truth"]),
                tool_tip_warnings=tuple(str(w) for w in data.get("tool_tip_warnings", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise GuidanceError(f"{RUN_FILE}: missing or malformed entry ({error})") from None

    def write(self, folder: Path) -> Path:
        path = Path(folder) / RUN_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> "ExerciseSetup":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise GuidanceError(f"cannot read {path}: {error}") from None
        return cls.from_dict(data)
