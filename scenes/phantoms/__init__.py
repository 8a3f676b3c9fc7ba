"""Built-in phantoms: synthetic CT scenes with exact ground truth, deterministic from a seed."""

import enum
from pathlib import Path

from scenes.exceptions import SceneError
from scenes.phantoms.needle_box import build_needle_box
from scenes.phantoms.skull import build_skull
from scenes.phantoms.spine import build_spine
from scenes.scene import Scene, load_scene


class PhantomKind(enum.Enum):
    """The built-in phantoms, named as in ``builtin:NAME`` scene specifications."""

    SKULL = "skull"
    SPINE = "spine"
    NEEDLE_BOX = "needle-box"

    @classmethod
    def parse(cls, name: str) -> "PhantomKind":
        """The kind named ``name`` (``"skull"`` or ``"builtin:skull"``), or a SceneError."""
        bare = name.removeprefix("builtin:")
        for kind in cls:
            if kind.value == bare:
                return kind
        names = ", ".join(f"builtin:{kind.value}" for kind in cls)
        raise SceneError(f"unknown phantom '{name}'; expected one of {names}")


def build_phantom(kind: PhantomKind | str, seed: int = 0) -> Scene:
    """Build the phantom ``kind`` (enum or name) at 1 mm voxels, deterministic from ``seed``."""
    kind = kind if isinstance(kind, PhantomKind) else PhantomKind.parse(kind)
    builders = {
        PhantomKind.SKULL: build_skull,
        PhantomKind.SPINE: build_spine,
        PhantomKind.NEEDLE_BOX: build_needle_box,
    }
    return builders[kind](seed=seed)


def resolve_scene(spec: str | Path, seed: int = 0) -> Scene:
    """The scene ``spec`` names: ``"builtin:NAME"`` builds a phantom, anything else is a folder."""
    if str(spec).startswith("builtin:"):
        return build_phantom(PhantomKind.parse(str(spec)), seed=seed)
    return load_scene(Path(spec))
