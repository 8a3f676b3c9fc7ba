"""What a worker process builds once and reuses for every piece it runs: scenes (a built-in
phantom takes seconds to build) and their skin surfaces. Keyed by the scene's name and seed, so
that a piece needs only those two plain values to find its scene on any worker."""

import functools

import pyvista as pv

from scenes.phantoms import resolve_scene
from scenes.scene import Scene

SCENES_KEPT = 4


@functools.lru_cache(maxsize=SCENES_KEPT)
def scene(spec: str, seed: int) -> Scene:
    """The scene ``spec`` names (``builtin:NAME`` built from ``seed``, or a folder)."""
    return resolve_scene(spec, seed=seed)


@functools.lru_cache(maxsize=SCENES_KEPT)
def skin(spec: str, seed: int) -> pv.PolyData:
    """The skin surface the exercises use for that scene (``exercises.simulate.skin_surface``)."""
    from guidance.exercises.simulate import skin_surface

    return skin_surface(scene(spec, seed))
