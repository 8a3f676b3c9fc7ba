"""How the navigation window looks: one frozen record, the only home of each default."""

from dataclasses import dataclass

from guidance.exceptions import GuidanceError


@dataclass(frozen=True)
class ViewSettings:
    """Size and look of the navigation window: pixels, mm, HU, Hz.

    ``slab_half_mm``: a target or fiducial is drawn in full on a slice when it lies within this
    distance of the slice plane, faded (with its distance) otherwise. ``skin_max_triangles``:
    the skin is decimated to at most this many triangles (a translucent skin costs ~0.3 ms per
    thousand triangles per frame with Mesa's software renderer). ``bullseye_rings_mm``: radii
    of the rings of the target-alignment view, inner to outer. ``refresh_hz``: how often the
    interactive window draws the newest state. ``numbers_hz``: how often, at most, the text
    panel rewrites its numbers on screen (a colour change shows at once; pictures and videos
    always show the newest).
    """

    window_size: tuple[int, int] = (1500, 900)
    surface_opacity: float = 0.3
    window_hu: float = 1800.0
    level_hu: float = 300.0
    marker_radius_mm: float = 2.5
    slab_half_mm: float = 2.0
    skin_max_triangles: int = 8_000
    bullseye_rings_mm: tuple[float, ...] = (2.0, 5.0, 10.0)
    refresh_hz: float = 30.0
    numbers_hz: float = 10.0
    font_size: int = 14

    def __post_init__(self) -> None:
        width, height = self.window_size
        if width < 300 or height < 200:
            raise GuidanceError(
                f"window_size must be at least 300 x 200 pixels; got {width} x {height}"
            )
        for name in ("window_hu", "marker_radius_mm", "slab_half_mm", "refresh_hz", "numbers_hz"):
            if not getattr(self, name) > 0.0:
                raise GuidanceError(f"ViewSettings.{name} must be > 0; got {getattr(self, name)!r}")
        if not 0.0 <= self.surface_opacity <= 1.0:
            raise GuidanceError(
                f"ViewSettings.surface_opacity must be in [0, 1]; got {self.surface_opacity!r}"
            )
        if self.skin_max_triangles < 100:
            raise GuidanceError(
                f"ViewSettings.skin_max_triangles must be at least 100; "
                f"got {self.skin_max_triangles!r}"
            )
        rings = self.bullseye_rings_mm
        if not rings or any(r <= 0.0 for r in rings) or list(rings) != sorted(set(rings)):
            raise GuidanceError(
                f"ViewSettings.bullseye_rings_mm must be increasing positive radii; got {rings!r}"
            )
        if not 6 <= self.font_size <= 72:
            raise GuidanceError(f"ViewSettings.font_size must be in [6, 72]; got {self.font_size}")
