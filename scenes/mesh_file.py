"""Reading a surface mesh file (``.vtk``, ``.vtp``, ``.stl``, ``.ply``, ``.obj``) with PyVista,
refusing a file VTK could only partly read.

VTK's readers report a corrupt or truncated file through their error and warning events and
still hand back a mesh (empty, or with the unread part left as zeros), so the events are caught
and turned into an error naming the file. Two formats need checking before VTK sees them: a
truncated binary PLY crashes VTK's reader (a segmentation fault) and a truncated ASCII PLY reads
as a whole mesh of zeros, so a PLY file's body is measured against its header first; a
truncated ASCII STL reads as fewer triangles, so it must end with ``endsolid``.
"""

import warnings
from pathlib import Path

import numpy as np
import pyvista as pv

from scenes.exceptions import CorruptMeshError

MESH_SUFFIXES = (".vtk", ".vtp", ".stl", ".ply", ".obj")
PLY_TYPE_BYTES = {
    **dict.fromkeys(("char", "uchar", "int8", "uint8"), 1),
    **dict.fromkeys(("short", "ushort", "int16", "uint16"), 2),
    **dict.fromkeys(("int", "uint", "int32", "uint32", "float", "float32"), 4),
    **dict.fromkeys(("double", "float64"), 8),
}
PLY_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}


def is_mesh_file(path: Path | str) -> bool:
    """Whether ``path`` names one of the mesh formats ``read_mesh`` reads (by its suffix)."""
    return str(path).lower().endswith(MESH_SUFFIXES)


def _ply_header(data: bytes, path: Path) -> tuple[str, list[tuple[str, int, list[list[str]]]], int]:
    """The format, the elements (name, count, property lines split in words) and the offset of
    the body of a PLY file."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise CorruptMeshError(f"{path}: not a PLY file (no 'ply' ... 'end_header' header)")
    body = data.index(b"\n", end) + 1 if b"\n" in data[end:] else len(data)
    fmt, elements = None, []
    for line in data[:end].decode("ascii", errors="replace").splitlines():
        words = line.split()
        if words[:1] == ["format"] and len(words) >= 2:
            fmt = words[1]
        elif words[:1] == ["element"] and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"] and elements:
            elements[-1][2].append(words[1:])
    if fmt not in PLY_FORMATS:
        raise CorruptMeshError(f"{path}: PLY format {fmt!r}; expected one of {list(PLY_FORMATS)}")
    return fmt, elements, body


def _ply_type_bytes(name: str, path: Path) -> int:
    if name not in PLY_TYPE_BYTES:
        raise CorruptMeshError(f"{path}: unknown PLY property type {name!r}")
    return PLY_TYPE_BYTES[name]


def _check_ply(path: Path) -> None:
    """Refuse a PLY file whose body is shorter than its header declares."""
    data = path.read_bytes()
    fmt, elements, offset = _ply_header(data, path)
    declared = sum(count for _, count, _ in elements)
    if PLY_FORMATS[fmt] is None:  # ascii: one line per element
        rows = sum(1 for line in data[offset:].splitlines() if line.strip())
        if rows < declared:
            raise CorruptMeshError(
                f"{path}: truncated PLY file: the header declares {declared} rows, the file "
                f"holds {rows}"
            )
        return
    order = PLY_FORMATS[fmt]
    for name, count, properties in elements:
        for _ in range(count):
            for words in properties:
                if words[0] == "list" and len(words) == 4:
                    size = _ply_type_bytes(words[1], path)
                    if offset + size > len(data):
                        break
                    length = int.from_bytes(
                        data[offset : offset + size], "little" if order == "<" else "big"
                    )
                    offset += size + length * _ply_type_bytes(words[2], path)
                else:
                    offset += _ply_type_bytes(words[0], path)
            if offset > len(data):
                raise CorruptMeshError(
                    f"{path}: truncated PLY file: its {count} {name} rows need more than the "
                    f"{len(data)} bytes it has"
                )


def _check_ascii_stl(path: Path) -> None:
    """Refuse an ASCII STL file cut before its ``endsolid`` line."""
    with path.open("rb") as file:
        start = file.read(512)
        if not start.lstrip().startswith(b"solid") or b"facet" not in start:
            return  # binary STL: VTK checks its length
        file.seek(max(0, path.stat().st_size - 512))
        if b"endsolid" not in file.read():
            raise CorruptMeshError(f"{path}: truncated ASCII STL file (no 'endsolid' at its end)")


def read_mesh(path: Path | str) -> pv.PolyData:
    """The triangulated surface (LPS mm, as stored) of a mesh file; raises CorruptMeshError when
    VTK reports an error or warning while reading, or the file holds no finite triangles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such mesh file")
    suffix = path.suffix.lower()
    if suffix == ".ply":
        _check_ply(path)
    elif suffix == ".stl":
        _check_ascii_stl(path)
    with pv.VtkErrorCatcher() as catcher, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyvista repeats VTK's errors as warnings
        try:
            data = pv.read(path)
        except (RuntimeError, ValueError, OSError) as error:
            raise CorruptMeshError(f"{path}: not a readable mesh ({error})") from None
    if catcher.events:
        first = catcher.events[0].alert.strip().splitlines()
        reason = first[-1] if first else "VTK reported an error"
        raise CorruptMeshError(f"{path}: corrupt or truncated mesh file ({reason.strip()})")
    if not isinstance(data, pv.DataSet):
        raise CorruptMeshError(f"{path}: holds a {type(data).__name__}, not one surface mesh")
    mesh = data if isinstance(data, pv.PolyData) else data.extract_surface()
    mesh = mesh.triangulate()
    if mesh.n_cells == 0:
        raise CorruptMeshError(f"{path}: no triangles (an empty or unreadable mesh file)")
    if not np.all(np.isfinite(mesh.points)):
        raise CorruptMeshError(f"{path}: NaN or infinite vertex coordinates")
    return mesh
