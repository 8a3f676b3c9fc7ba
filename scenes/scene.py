"""The scene of an exercise: a CT with ground-truth fiducials, targets and structures to avoid.

Everything is in physical LPS millimetres, the frame of the CT (``SimpleITK`` origin, spacing and
direction); no voxel index leaves ``scenes``.

A scene folder holds ``scene.toml`` and the files it names: the CT (any format ``load_volume``
reads), Slicer markups for fiducials and targets, one Slicer curve per structure (its centreline),
one Slicer line per planned trajectory (entry, then target; or the two points written inline as
``entry_mm`` and ``target_mm``), and the tools (``builtin:NAME`` or a path to an NDI ``.rom``
file, resolved by ``guidance``)::

    [scene]
    name = "skull"
    description = "..."
    format_version = 1
    bone_threshold_hu = 300.0
    skin_threshold_hu = -300.0

    [ct]
    file = "ct.nrrd"        # series = "UID or description" for a DICOM folder with several

    [fiducials]
    file = "fiducials.mrk.json"
    on_skin = ["F1", "F2"]  # optional: the fiducials stuck on the skin (the others are rigid)

    [targets]
    file = "targets.mrk.json"

    [[structures]]
    name = "superior-sagittal-sinus"
    file = "structures/superior-sagittal-sinus.mrk.json"
    radius_mm = 4.0

    [[trajectories]]
    name = "biopsy"
    file = "trajectories/biopsy.mrk.json"   # or: entry_mm = [x, y, z], target_mm = [x, y, z]

    [[tools]]
    name = "stylus"
    source = "builtin:stylus"
"""

import logging
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import tomli_w

from scenes.exceptions import SceneError, SceneFormatError
from scenes.markups import MarkupKind, Markups, read_markups, write_markups
from scenes.volume import load_volume, save_volume

logger = logging.getLogger(__name__)

SCENE_FILE = "scene.toml"
FORMAT_VERSION = 1
TOP_LEVEL_KEYS = frozenset(
    {"scene", "ct", "fiducials", "targets", "structures", "trajectories", "tools"}
)
# A trajectory shorter than this has no direction worth navigating along.
MIN_TRAJECTORY_MM = 1.0


def _frozen_points(points: np.ndarray, what: str) -> np.ndarray:
    array = np.array(points, dtype=np.float64, copy=True)
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, 3)
    if array.ndim != 2 or array.shape[1] != 3:
        raise SceneFormatError(f"{what} must have shape (N, 3); got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SceneFormatError(f"{what} contains NaN or infinite coordinates")
    array.setflags(write=False)
    return array


def _check_labels(labels: tuple[str, ...], count: int, what: str) -> None:
    if len(labels) != count:
        raise SceneFormatError(f"{what}: {len(labels)} labels for {count} points")
    if len(set(labels)) != len(labels):
        raise SceneFormatError(f"{what}: labels must be unique; got {list(labels)}")


@dataclass(frozen=True, eq=False)
class Structure:
    """A structure to avoid: a tube of ``radius_mm`` around a polyline (one point: a ball), LPS mm.

    Vessels, nerves, ventricles and the spinal canal are all modelled this way, so that the
    distance of a tool tip to them is exact and cheap.
    """

    name: str
    centreline_mm: np.ndarray
    radius_mm: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "centreline_mm", _frozen_points(self.centreline_mm, f"{self.name} centreline")
        )
        if len(self.centreline_mm) == 0:
            raise SceneFormatError(f"structure {self.name}: the centreline needs at least 1 point")
        if not (np.isfinite(self.radius_mm) and self.radius_mm > 0):
            raise SceneFormatError(
                f"structure {self.name}: radius must be a positive number of mm; "
                f"got {self.radius_mm}"
            )

    def signed_distance_mm(self, points_mm: np.ndarray) -> np.ndarray:
        """Distance from each point ``(N, 3)`` to the surface of the tube; negative inside."""
        points = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        line = self.centreline_mm
        starts = line[:-1] if len(line) > 1 else line
        ends = line[1:] if len(line) > 1 else line
        segment = ends - starts
        length_sq = np.maximum(np.einsum("ij,ij->i", segment, segment), 1e-300)
        offset = points[:, None, :] - starts[None, :, :]
        t = np.clip(np.einsum("nsj,sj->ns", offset, segment) / length_sq, 0.0, 1.0)
        closest = starts[None] + t[..., None] * segment[None]
        distance = np.linalg.norm(points[:, None, :] - closest, axis=2).min(axis=1)
        return distance - self.radius_mm


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A planned straight path for a needle or a screw, LPS mm: it enters at ``entry_mm`` (on the
    skin, the bone or a box lid) and ends at ``target_mm``. Arrays are read-only copies."""

    name: str
    entry_mm: np.ndarray
    target_mm: np.ndarray

    def __post_init__(self) -> None:
        if not self.name:
            raise SceneFormatError("a trajectory needs a non-empty name")
        for what in ("entry_mm", "target_mm"):
            point = np.array(getattr(self, what), dtype=np.float64)
            if point.shape != (3,) or not np.all(np.isfinite(point)):
                raise SceneFormatError(
                    f"trajectory {self.name}: {what} must be 3 finite numbers (LPS mm); "
                    f"got {getattr(self, what)!r}"
                )
            point.setflags(write=False)
            object.__setattr__(self, what, point)
        if self.length_mm < MIN_TRAJECTORY_MM:
            raise SceneFormatError(
                f"trajectory {self.name}: entry and target are {self.length_mm:.3g} mm apart; "
                f"a trajectory needs at least {MIN_TRAJECTORY_MM} mm"
            )

    @property
    def length_mm(self) -> float:
        """Distance from the entry to the target (mm)."""
        return float(np.linalg.norm(self.target_mm - self.entry_mm))

    @property
    def direction(self) -> np.ndarray:
        """Unit vector from the entry toward the target (image frame)."""
        return (self.target_mm - self.entry_mm) / self.length_mm


@dataclass(frozen=True)
class ToolReference:
    """A tool the exercise uses: its role name and where its definition comes from.

    ``source`` is ``"builtin:NAME"`` (gestes' own tools) or an absolute path to a tool file such
    as an NDI ``.rom``; ``guidance`` turns it into a tool definition.
    """

    name: str
    source: str

    def __post_init__(self) -> None:
        if not self.name:
            raise SceneFormatError(f"tool with source '{self.source}' has an empty name")
        if not (self.source.startswith("builtin:") or Path(self.source).is_absolute()):
            raise SceneFormatError(
                f"tool {self.name}: source must be 'builtin:NAME' or an absolute path; "
                f"got '{self.source}'"
            )


DEFAULT_TOOLS = (
    ToolReference("stylus", "builtin:stylus"),
    ToolReference("reference", "builtin:reference"),
)


@dataclass(frozen=True, eq=False)
class Scene:
    """A CT (int16 HU, LPS) with ground-truth bead centres, targets and structures to avoid.

    ``fiducials_mm`` are the true centres of the CT-visible beads, ``targets_mm`` the points to
    reach, ``trajectories`` the planned paths to some of them; ``bone_threshold_hu`` and
    ``skin_threshold_hu`` are the isovalues of the bone and skin surfaces. ``skin_fiducials``
    names the fiducials stuck on the skin, which can slide with it between the scan and the
    session; the others are fixed rigidly (to the bone, or to a rigid phantom). Arrays are
    read-only copies.
    """

    name: str
    ct: sitk.Image
    fiducials_mm: np.ndarray
    fiducial_labels: tuple[str, ...]
    targets_mm: np.ndarray
    target_labels: tuple[str, ...]
    structures: tuple[Structure, ...] = ()
    bone_threshold_hu: float = 300.0
    skin_threshold_hu: float = -300.0
    description: str = field(default="")
    tools: tuple[ToolReference, ...] = DEFAULT_TOOLS
    trajectories: tuple[Trajectory, ...] = ()
    skin_fiducials: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.ct.GetDimension() != 3:
            raise SceneFormatError(f"scene {self.name}: the CT must be 3D")
        object.__setattr__(
            self, "fiducials_mm", _frozen_points(self.fiducials_mm, f"scene {self.name} fiducials")
        )
        object.__setattr__(
            self, "targets_mm", _frozen_points(self.targets_mm, f"scene {self.name} targets")
        )
        object.__setattr__(self, "fiducial_labels", tuple(self.fiducial_labels))
        object.__setattr__(self, "target_labels", tuple(self.target_labels))
        object.__setattr__(self, "structures", tuple(self.structures))
        object.__setattr__(self, "tools", tuple(self.tools))
        object.__setattr__(self, "trajectories", tuple(self.trajectories))
        object.__setattr__(self, "skin_fiducials", tuple(self.skin_fiducials))
        unknown = sorted(set(self.skin_fiducials) - set(self.fiducial_labels))
        if unknown:
            raise SceneFormatError(
                f"scene {self.name}: skin fiducials {unknown} are not fiducials "
                f"({', '.join(self.fiducial_labels) or 'none'})"
            )
        _check_labels(
            tuple(t.name for t in self.trajectories),
            len(self.trajectories),
            f"scene {self.name} trajectories",
        )
        _check_labels(
            tuple(t.name for t in self.tools), len(self.tools), f"scene {self.name} tools"
        )
        _check_labels(self.fiducial_labels, len(self.fiducials_mm), f"scene {self.name} fiducials")
        _check_labels(self.target_labels, len(self.targets_mm), f"scene {self.name} targets")
        _check_labels(
            tuple(s.name for s in self.structures),
            len(self.structures),
            f"scene {self.name} structures",
        )
        if not self.skin_threshold_hu < self.bone_threshold_hu:
            raise SceneFormatError(
                f"scene {self.name}: skin threshold {self.skin_threshold_hu} HU must be below the "
                f"bone threshold {self.bone_threshold_hu} HU"
            )

    def save(self, folder: Path | str, ct_file: str = "ct.nrrd") -> Path:
        """Write the scene folder (``scene.toml``, CT, markups); returns the ``scene.toml`` path.

        Tool files named by path are copied into ``tools/`` so that the folder stands alone.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_volume(self.ct, folder / ct_file, compress=True)
        write_markups(
            Markups(self.fiducial_labels, self.fiducials_mm, name="fiducials"),
            folder / "fiducials.mrk.json",
        )
        write_markups(
            Markups(self.target_labels, self.targets_mm, name="targets"),
            folder / "targets.mrk.json",
        )
        structures = []
        for structure in self.structures:
            relative = f"structures/{structure.name}.mrk.json"
            labels = tuple(f"{structure.name}-{i + 1}" for i in range(len(structure.centreline_mm)))
            write_markups(
                Markups(labels, structure.centreline_mm, MarkupKind.CURVE, structure.name),
                folder / relative,
            )
            structures.append(
                {"name": structure.name, "file": relative, "radius_mm": structure.radius_mm}
            )
        document = {
            "scene": {
                "name": self.name,
                "description": self.description,
                "format_version": FORMAT_VERSION,
                "bone_threshold_hu": float(self.bone_threshold_hu),
                "skin_threshold_hu": float(self.skin_threshold_hu),
            },
            "ct": {"file": ct_file},
            "fiducials": {"file": "fiducials.mrk.json", "on_skin": list(self.skin_fiducials)},
            "targets": {"file": "targets.mrk.json"},
            "structures": structures,
            "trajectories": [_saved_trajectory(t, folder) for t in self.trajectories],
            "tools": [_saved_tool(tool, folder) for tool in self.tools],
        }
        path = folder / SCENE_FILE
        path.write_bytes(tomli_w.dumps(document).encode("utf-8"))
        logger.info("saved scene %s to %s", self.name, folder)
        return path


def _saved_trajectory(trajectory: Trajectory, folder: Path) -> dict[str, str]:
    """The ``[[trajectories]]`` entry of a trajectory, written as a Slicer line (entry, target)."""
    relative = f"trajectories/{trajectory.name}.mrk.json"
    points = np.array([trajectory.entry_mm, trajectory.target_mm])
    labels = (f"{trajectory.name}-entry", f"{trajectory.name}-target")
    write_markups(Markups(labels, points, MarkupKind.LINE, trajectory.name), folder / relative)
    return {"name": trajectory.name, "file": relative}


def _trajectory(folder: Path, entry: Mapping, where: str) -> Trajectory:
    """A ``[[trajectories]]`` entry: a line markup file (entry, target) or two inline points."""
    name = str(_value(entry, "name", str, where))
    if "file" in entry:
        line = read_markups(_file(folder, entry, where), allow_non_points=True)
        if len(line.points_mm) != 2:
            raise SceneFormatError(
                f"{where}: trajectory {name} needs 2 points (entry, target) in "
                f"{entry['file']}; it has {len(line.points_mm)}"
            )
        entry_mm, target_mm = line.points_mm
    else:
        entry_mm, target_mm = (_value(entry, key, list, where) for key in ("entry_mm", "target_mm"))
    try:
        return Trajectory(
            name, np.asarray(entry_mm, dtype=np.float64), np.asarray(target_mm, dtype=np.float64)
        )
    except (TypeError, ValueError):
        raise SceneFormatError(
            f"{where}: trajectory {name}: entry_mm and target_mm must be 3 numbers each"
        ) from None


def _saved_tool(tool: ToolReference, folder: Path) -> dict[str, str]:
    """The ``[[tools]]`` entry of a tool, its file copied into ``folder/tools`` if it has one."""
    if tool.source.startswith("builtin:"):
        return {"name": tool.name, "source": tool.source}
    source = Path(tool.source)
    relative = f"tools/{source.name}"
    (folder / "tools").mkdir(exist_ok=True)
    try:
        (folder / relative).write_bytes(source.read_bytes())
    except OSError as error:
        raise SceneFormatError(f"tool {tool.name}: cannot copy '{source}' ({error})") from None
    return {"name": tool.name, "source": relative}


def _table(document: Mapping, key: str, where: Path) -> Mapping:
    value = document.get(key)
    if not isinstance(value, Mapping):
        raise SceneFormatError(f"{where}: missing [{key}] table")
    return value


def _value(table: Mapping, key: str, kind: type | tuple[type, ...], where: str) -> object:
    if key not in table:
        raise SceneFormatError(f"{where}: missing '{key}'")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SceneFormatError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    return value


def _file(folder: Path, table: Mapping, where: str) -> Path:
    path = folder / str(_value(table, "file", str, where))
    if not path.exists():
        raise SceneFormatError(f"{where}: names '{path.name}', which is not in {folder}")
    return path


def _tool(folder: Path, entry: Mapping, where: str) -> ToolReference:
    name = str(_value(entry, "name", str, where))
    source = str(_value(entry, "source", str, where))
    if not source.startswith("builtin:"):
        path = (folder / source).resolve()
        if not path.is_file():
            raise SceneFormatError(f"{where}: tool {name} file '{source}' is not in {folder}")
        source = str(path)
    return ToolReference(name, source)


def load_scene(folder: Path | str) -> Scene:
    """Read a scene folder written by ``Scene.save`` (or by hand); see the module docstring."""
    folder = Path(folder)
    path = folder / SCENE_FILE
    if not path.is_file():
        raise SceneFormatError(f"{folder}: not a scene folder (no {SCENE_FILE})")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SceneFormatError(f"{path}: not valid TOML ({error})") from None
    unknown = sorted(set(document) - TOP_LEVEL_KEYS)
    if unknown:
        raise SceneFormatError(
            f"{path}: unknown entries {unknown}; expected only {sorted(TOP_LEVEL_KEYS)}"
        )
    header = _table(document, "scene", path)
    version = _value(header, "format_version", int, f"{path} [scene]")
    if version != FORMAT_VERSION:
        raise SceneFormatError(
            f"{path}: format_version {version}; this gestes reads {FORMAT_VERSION}"
        )
    ct_table = _table(document, "ct", path)
    ct = load_volume(_file(folder, ct_table, f"{path} [ct]"), ct_table.get("series"))
    fiducials_table = _table(document, "fiducials", path)
    fiducials = read_markups(_file(folder, fiducials_table, f"{path} [fiducials]"))
    on_skin = fiducials_table.get("on_skin", [])
    if not (isinstance(on_skin, list) and all(isinstance(label, str) for label in on_skin)):
        raise SceneFormatError(
            f"{path} [fiducials]: 'on_skin' must be a list of fiducial labels; got {on_skin!r}"
        )
    targets = read_markups(_file(folder, _table(document, "targets", path), f"{path} [targets]"))
    structures = []
    for index, entry in enumerate(document.get("structures", [])):
        where = f"{path} [[structures]] {index + 1}"
        centreline = read_markups(_file(folder, entry, where), allow_non_points=True)
        structures.append(
            Structure(
                str(_value(entry, "name", str, where)),
                centreline.points_mm,
                float(_value(entry, "radius_mm", (int, float), where)),
            )
        )
    trajectories = tuple(
        _trajectory(folder, entry, f"{path} [[trajectories]] {index + 1}")
        for index, entry in enumerate(document.get("trajectories", []))
    )
    tools = tuple(
        _tool(folder, entry, f"{path} [[tools]] {index + 1}")
        for index, entry in enumerate(document.get("tools", []))
    )
    try:
        return Scene(
            name=str(_value(header, "name", str, f"{path} [scene]")),
            ct=ct,
            fiducials_mm=fiducials.points_mm,
            fiducial_labels=fiducials.labels,
            targets_mm=targets.points_mm,
            target_labels=targets.labels,
            structures=tuple(structures),
            bone_threshold_hu=float(
                _value(header, "bone_threshold_hu", (int, float), f"{path} [scene]")
            ),
            skin_threshold_hu=float(
                _value(header, "skin_threshold_hu", (int, float), f"{path} [scene]")
            ),
            description=str(header.get("description", "")),
            tools=tools,
            trajectories=trajectories,
            skin_fiducials=tuple(on_skin),
        )
    except SceneError as error:
        raise SceneFormatError(f"{path}: {error}") from None
