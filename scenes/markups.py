"""3D Slicer markups: ``.mrk.json`` and ``.fcsv`` (Slicer 4.x fiducial CSV), read and write.

Points are LPS millimetres inside gestes. Slicer files say which frame they use: ``.mrk.json``
has ``coordinateSystem`` ("LPS" or "RAS"); ``.fcsv`` has ``# CoordinateSystem = 0`` (RAS),
``1`` (LPS), or the words since Slicer 4.11. RAS -> LPS negates x and y.
"""

import csv
import enum
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scenes.exceptions import MarkupsError, UnsupportedFormatError

logger = logging.getLogger(__name__)

SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#"
)
RAS_FROM_LPS = np.array([-1.0, -1.0, 1.0])  # diagonal; its own inverse
MM_PER_UNIT = {"mm": 1.0, "um": 1e-3}  # the coordinateUnits the schema allows (UCUM codes)
FCSV_COLUMNS = ("id", "x", "y", "z", "ow", "ox", "oy", "oz", "vis", "sel", "lock", "label", "desc")
# Slicer's control point states; only "defined" points have a position to use.
POSITION_STATUSES = ("defined", "preview", "undefined", "missing")


class CoordinateSystem(enum.Enum):
    """The patient frame a file stores its coordinates in."""

    LPS = "LPS"
    RAS = "RAS"


class MarkupKind(enum.Enum):
    """Slicer markups node types; only ``POINTS`` (Slicer's "Fiducial") is a list of points."""

    POINTS = "Fiducial"
    LINE = "Line"
    ANGLE = "Angle"
    CURVE = "Curve"
    CLOSED_CURVE = "ClosedCurve"
    PLANE = "Plane"
    ROI = "ROI"


@dataclass(frozen=True, eq=False)
class Markups:
    """Labelled points in LPS mm read from (or to write to) a markups file.

    ``descriptions`` are the points' free-text descriptions (one per point, or empty for none).
    ``left_out`` lists the points a file holds without a usable position (Slicer's "undefined",
    "preview" or "missing" control points), as "label (status)", so that whoever uses the points
    can say which ones were not.
    """

    labels: tuple[str, ...]
    points_mm: np.ndarray
    kind: MarkupKind = MarkupKind.POINTS
    name: str = ""
    descriptions: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        points = np.array(self.points_mm, dtype=np.float64, copy=True).reshape(-1, 3)
        if not np.all(np.isfinite(points)):
            raise MarkupsError(f"markups {self.name!r}: NaN or infinite coordinates")
        if len(points) != len(self.labels):
            raise MarkupsError(
                f"markups {self.name!r}: {len(self.labels)} labels for {len(points)} points"
            )
        if self.descriptions and len(self.descriptions) != len(points):
            raise MarkupsError(
                f"markups {self.name!r}: {len(self.descriptions)} descriptions for "
                f"{len(points)} points"
            )
        points.setflags(write=False)
        object.__setattr__(self, "points_mm", points)
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "descriptions", tuple(self.descriptions))

    def description(self, index: int) -> str:
        """Point ``index``'s description ("" when the markups have none)."""
        return self.descriptions[index] if self.descriptions else ""


def _lps(points: np.ndarray, system: CoordinateSystem) -> np.ndarray:
    return points * RAS_FROM_LPS if system is CoordinateSystem.RAS else points


def _is_json(path: Path) -> bool:
    return path.name.lower().endswith(".json")


def read_markups(path: Path | str, allow_non_points: bool = False) -> Markups:
    """Read a ``.mrk.json`` or ``.fcsv`` file; points come back in LPS mm.

    Curves, lines, planes and other non-point markups are refused unless ``allow_non_points``,
    in which case their control points are returned.
    """
    path = Path(path)
    if not path.is_file():
        raise MarkupsError(f"{path}: no such markups file")
    if _is_json(path):
        return _read_json(path, allow_non_points)
    if path.suffix.lower() == ".fcsv":
        return _read_fcsv(path)
    raise UnsupportedFormatError(f"{path}: unknown markups format; expected .mrk.json or .fcsv")


def write_markups(
    markups: Markups, path: Path | str, system: CoordinateSystem = CoordinateSystem.LPS
) -> Path:
    """Write ``.mrk.json`` or ``.fcsv`` (by extension), coordinates in ``system``."""
    path = Path(path)
    if _is_json(path):
        text = _json_text(markups, system)
    elif path.suffix.lower() == ".fcsv":
        if markups.kind is not MarkupKind.POINTS:
            raise MarkupsError(f"{path}: .fcsv holds point lists only; got a {markups.kind.value}")
        text = _fcsv_text(markups, system)
    else:
        raise UnsupportedFormatError(f"{path}: cannot write markups; expected .mrk.json or .fcsv")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _field(mapping: dict, key: str, where: str) -> object:
    if not isinstance(mapping, dict) or key not in mapping:
        raise MarkupsError(f"{where}: missing '{key}'")
    return mapping[key]


def _unique_keys(path: Path, pairs: list[tuple[str, object]]) -> dict:
    """A JSON object's fields, refusing a field given twice (JSON would keep the last silently)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        repeated = sorted({key for key, _ in pairs if [k for k, _ in pairs].count(key) > 1})
        raise MarkupsError(f"{path}: the field {repeated[0]!r} appears twice in one object")
    return document


def _position(point: dict, where: str) -> list[float]:
    position = _field(point, "position", where)
    numbers = isinstance(position, list) and len(position) == 3
    if not numbers or not all(
        isinstance(value, int | float) and not isinstance(value, bool) for value in position
    ):
        raise MarkupsError(f"{where}: position must be 3 numbers; got {position!r:.80}")
    return [float(value) for value in position]


def _label(point: dict, index: int, where: str) -> str:
    label = point.get("label", f"P{index + 1}")
    if not isinstance(label, str):
        raise MarkupsError(f"{where}: label must be text; got {label!r:.60}")
    return label


def _read_json(path: Path, allow_non_points: bool) -> Markups:
    try:
        document = json.loads(
            path.read_text(encoding="utf-8"),
            object_pairs_hook=lambda pairs: _unique_keys(path, pairs),
        )
    except json.JSONDecodeError as error:
        raise MarkupsError(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    except UnicodeDecodeError:
        raise MarkupsError(f"{path}: not a UTF-8 text file") from None
    nodes = _field(document, "markups", str(path))
    if not isinstance(nodes, list) or len(nodes) != 1:
        count = len(nodes) if isinstance(nodes, list) else "no list of"
        raise MarkupsError(f"{path}: holds {count} markups; expected exactly 1")
    node = nodes[0]
    type_name = _field(node, "type", f"{path} markups[0]")
    try:
        kind = MarkupKind(type_name)
    except ValueError:
        raise MarkupsError(f"{path}: unknown markups type '{type_name}'") from None
    if kind is not MarkupKind.POINTS and not allow_non_points:
        raise MarkupsError(
            f"{path}: a {type_name} markup, not a point list; ask for its control points "
            "explicitly (allow_non_points=True) if that is what you want"
        )
    system_name = node.get("coordinateSystem", "LPS")
    try:
        system = CoordinateSystem(system_name)
    except ValueError:
        raise MarkupsError(
            f"{path}: coordinateSystem '{system_name}'; expected 'LPS' or 'RAS'"
        ) from None
    units = node.get("coordinateUnits", "mm")
    code = units[0] if isinstance(units, list) and units else units  # [code, scheme, meaning]
    if not isinstance(code, str) or code not in MM_PER_UNIT:
        raise MarkupsError(f"{path}: coordinateUnits {units!r}; expected 'mm' or 'um'")
    labels, points, descriptions, left_out = [], [], [], []
    control_points = _field(node, "controlPoints", f"{path} markups[0]")
    if not isinstance(control_points, list):
        raise MarkupsError(f"{path}: controlPoints must be a list; got {control_points!r:.60}")
    for index, point in enumerate(control_points):
        where = f"{path} controlPoints[{index}]"
        if not isinstance(point, dict):
            raise MarkupsError(f"{where}: must be an object with a position; got {point!r:.60}")
        label = _label(point, index, where)
        status = point.get("positionStatus", "defined")
        if status not in POSITION_STATUSES:
            raise MarkupsError(
                f"{where} ({label}): positionStatus {status!r:.40}; expected one of "
                f"{', '.join(POSITION_STATUSES)}"
            )
        if status != "defined":
            logger.warning("%s: point %s left out: its position is %s", path, label, status)
            left_out.append(f"{label} ({status})")
            continue
        points.append(_position(point, where))
        labels.append(label)
        descriptions.append(str(point.get("description", "")))
    array = _lps(np.array(points, dtype=np.float64).reshape(-1, 3), system) * MM_PER_UNIT[code]
    return Markups(
        tuple(labels),
        array,
        kind,
        name=str(node.get("name", path.name)),
        descriptions=tuple(descriptions) if any(descriptions) else (),
        left_out=tuple(left_out),
    )


def _json_text(markups: Markups, system: CoordinateSystem) -> str:
    points = _lps(markups.points_mm, system)
    control_points = [
        {
            "id": str(index + 1),
            "label": label,
            "description": markups.description(index),
            "associatedNodeID": "",
            "position": [float(value) for value in point],
            "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
            "selected": True,
            "locked": False,
            "visibility": True,
            "positionStatus": "defined",
        }
        for index, (label, point) in enumerate(zip(markups.labels, points, strict=True))
    ]
    node = {
        "type": markups.kind.value,
        "coordinateSystem": system.value,
        "coordinateUnits": "mm",
        "locked": False,
        "fixedNumberOfControlPoints": False,
        "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": len(control_points),
        "controlPoints": control_points,
    }
    if markups.name:
        node["name"] = markups.name
    return json.dumps({"@schema": SCHEMA_URL, "markups": [node]}, indent=4) + "\n"


def _fcsv_system(value: str, path: Path) -> CoordinateSystem:
    systems = {"0": CoordinateSystem.RAS, "1": CoordinateSystem.LPS}
    systems.update({system.value: system for system in CoordinateSystem})
    if value not in systems:
        raise MarkupsError(
            f"{path}: CoordinateSystem '{value}'; expected 0 or RAS, 1 or LPS (IJK unsupported)"
        )
    return systems[value]


def _read_fcsv(path: Path) -> Markups:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise MarkupsError(f"{path}: not a UTF-8 text file") from None
    system = CoordinateSystem.RAS  # Slicer's default when the header does not say
    columns: tuple[str, ...] = FCSV_COLUMNS
    rows = []
    for line in text.splitlines():  # handles CRLF and LF line ends alike
        if line.startswith("#"):
            key, _, value = line.lstrip("# ").partition("=")
            if key.strip() == "CoordinateSystem":
                system = _fcsv_system(value.strip(), path)
            elif key.strip() == "columns":
                columns = tuple(name.strip() for name in value.split(","))
        elif line.strip():
            rows.append(line)
    missing = {"x", "y", "z"} - set(columns)
    if missing:
        raise MarkupsError(f"{path}: columns line lacks {sorted(missing)}")
    labels, points, descriptions = [], [], []
    for number, row in enumerate(csv.reader(rows), start=1):
        values = dict(zip(columns, row, strict=False))
        try:
            points.append([float(values["x"]), float(values["y"]), float(values["z"])])
        except (KeyError, ValueError):
            raise MarkupsError(f"{path}: point {number} has no numeric x, y, z: {row}") from None
        labels.append(values.get("label") or f"P{number}")
        descriptions.append(values.get("desc") or "")
    array = _lps(np.array(points, dtype=np.float64).reshape(-1, 3), system)
    return Markups(
        tuple(labels),
        array,
        MarkupKind.POINTS,
        name=path.name,
        descriptions=tuple(descriptions) if any(descriptions) else (),
    )


def _fcsv_text(markups: Markups, system: CoordinateSystem) -> str:
    buffer = io.StringIO()
    buffer.write("# Markups fiducial file version = 4.11\n")
    buffer.write(f"# CoordinateSystem = {system.value}\n")
    buffer.write(f"# columns = {','.join(FCSV_COLUMNS)}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    for index, (label, point) in enumerate(
        zip(markups.labels, _lps(markups.points_mm, system), strict=True)
    ):
        writer.writerow(
            [
                index + 1,
                *(repr(float(v)) for v in point),
                *(0, 0, 0, 1, 1, 1, 0),
                label,
                markups.description(index),
            ]
        )
    return buffer.getvalue()
