"""Mesh files: a whole file reads as its triangles; a truncated, garbage or empty one is a
CorruptMeshError naming the file (VTK alone hands back an empty or half-zero mesh)."""

import numpy as np
import pytest
import pyvista as pv

from scenes.exceptions import CorruptMeshError, SceneError
from scenes.mesh_file import is_mesh_file, read_mesh

SUFFIXES = (".vtk", ".vtp", ".stl", ".ply")
BINARY = (True, False)


@pytest.fixture(scope="module")
def sphere():
    return pv.Sphere(radius=40.0, theta_resolution=24, phi_resolution=24).triangulate()


@pytest.mark.parametrize("binary", BINARY, ids=["binary", "ascii"])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_whole_file_reads_back_its_triangles(tmp_path, sphere, suffix, binary):
    path = tmp_path / f"sphere{suffix}"
    sphere.save(path, binary=binary)
    mesh = read_mesh(path)
    assert mesh.n_cells == sphere.n_cells
    np.testing.assert_allclose(
        np.sort(mesh.points, axis=0), np.sort(sphere.points, axis=0), atol=1e-4
    )


@pytest.mark.parametrize("binary", BINARY, ids=["binary", "ascii"])
@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("damage", ["truncated", "cut-short", "garbage", "empty"])
def test_a_damaged_file_is_a_clear_error(tmp_path, sphere, suffix, damage, binary):
    """Truncated files once segfaulted (binary PLY) or read as whole meshes of zeros (ASCII
    PLY, legacy VTK) or as fewer triangles (ASCII STL)."""
    whole = tmp_path / f"whole{suffix}"
    sphere.save(whole, binary=binary)
    data = whole.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 3],
        "cut-short": data[: len(data) - 40],
        "garbage": b"garbage" * 10,
        "empty": b"",
    }
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(damaged[damage])
    with pytest.raises(CorruptMeshError, match=str(path)):
        read_mesh(path)


def test_mesh_suffixes():
    assert is_mesh_file("head/skin.VTP")
    assert not is_mesh_file("head/ct.nrrd")
    assert issubclass(CorruptMeshError, SceneError)
