"""What the views read from a ``NavigationState``, in one place."""

import numpy as np

from guidance.navigator import NavigationState, ToolState


def _tool(state: NavigationState, name: str) -> ToolState | None:
    """The state of the tool ``name``, matched as written, else case-insensitively."""
    tool = state.tools.get(name)
    if tool is not None:
        return tool
    folded = [tool for key, tool in state.tools.items() if key.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def tool_pose(state: NavigationState, name: str) -> np.ndarray | None:
    """``image_from_tool`` (4x4, mm) of the tool ``name`` in ``state``, or None when the tool has
    no pose in it (missing, out of volume, disabled, or not tracked at all)."""
    tool = _tool(state, name)
    if tool is None or not np.all(np.isfinite(tool.image_from_tool)):
        return None
    return tool.image_from_tool


def tool_status(state: NavigationState, name: str) -> str:
    """The tracker's word for the tool ``name`` in ``state`` ("ok", "missing", ...)."""
    tool = _tool(state, name)
    return "not tracked" if tool is None else tool.status.value.replace("_", " ")
