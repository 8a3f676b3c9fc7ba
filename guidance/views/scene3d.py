"""The 3D panel: the skin (translucent), structures to avoid, fiducials, labelled targets, the
planned trajectories, and every tracked tool's model moved by its ``image_from_tool``.

A tool without a pose in the newest state is hidden and named as missing in the panel, never
left standing at its last pose.
"""

from collections.abc import Mapping

import numpy as np
import pyvista as pv
from vtkmodules.vtkRenderingCore import vtkRenderer

from devices.tools import ToolDefinition
from guidance.navigator import NavigationPlan, NavigationState
from guidance.views.actors import mesh_actor
from guidance.views.models import decimated, tool_mesh, tube_mesh
from guidance.views.settings import ViewSettings
from guidance.views.state import tool_pose
from guidance.views.text_sheet import TextSheet
from scenes.scene import Scene

SKIN = "wheat"
FIDUCIAL = "deepskyblue"
TARGET = "red"
STRUCTURE = "darkorange"
TRAJECTORY = "lime"
TOOL = "silver"
MISSING = "red"
VIEW_DIRECTION = (-0.6, -1.0, 0.5)  # from the front left, above: a 3/4 view of the face


class ScenePanel:
    """The 3D view of a scene (its CT's fiducials) and a plan (targets, trajectories and
    structures), drawn in ``renderer``; ``show(state)`` moves the tools."""

    def __init__(
        self,
        renderer: vtkRenderer,
        scene: Scene,
        plan: NavigationPlan,
        skin: pv.PolyData,
        tools: Mapping[str, ToolDefinition],
        settings: ViewSettings,
    ) -> None:
        self.renderer = renderer
        skin = decimated(skin, settings.skin_max_triangles)
        mesh_actor(skin, renderer, SKIN, opacity=settings.surface_opacity, smooth=True)
        for structure in plan.structures:
            tube = tube_mesh(structure.centreline_mm, structure.radius_mm)
            mesh_actor(tube, renderer, STRUCTURE, smooth=True)  # opaque: cheaper
        ball = pv.Sphere(radius=settings.marker_radius_mm, theta_resolution=12, phi_resolution=12)
        for points, colour in ((scene.fiducials_mm, FIDUCIAL), (plan.targets_mm, TARGET)):
            if len(points):
                balls = pv.PolyData(points).glyph(geom=ball, scale=False, orient=False)
                mesh_actor(balls, renderer, colour, smooth=True)
        self.text = TextSheet(renderer)
        for label, target in zip(plan.target_labels, plan.targets_mm, strict=True):
            self.text.point_text(label, target, colour=TARGET)
        for trajectory in plan.trajectories:
            line = pv.Line(trajectory.entry_mm, trajectory.target_mm)
            mesh_actor(line, renderer, TRAJECTORY, line_width=3.0)
            entry = pv.Sphere(radius=1.5, center=trajectory.entry_mm)
            mesh_actor(entry, renderer, TRAJECTORY)
        self.tools = {
            name: mesh_actor(tool_mesh(tool), renderer, TOOL) for name, tool in tools.items()
        }
        for actor in self.tools.values():
            actor.SetVisibility(False)  # until a state gives its pose
        self.missing = self.text.panel_text("", (0.02, 0.02), "bottom left", colour=MISSING)
        self.text.panel_text("3D", (0.02, 0.98), "top left", settings.font_size)
        camera = renderer.GetActiveCamera()
        focus = np.asarray(skin.center)
        camera.SetFocalPoint(*focus)
        camera.SetPosition(*(focus + 1000.0 * np.asarray(VIEW_DIRECTION)))
        camera.SetViewUp(0.0, 0.0, 1.0)
        renderer.ResetCamera(skin.bounds)
        camera.Zoom(1.2)

    def show(self, state: NavigationState) -> None:
        """Move each tool's model to its pose, or hide it and name it as missing."""
        missing = []
        for name, actor in self.tools.items():
            pose = tool_pose(state, name)
            actor.SetVisibility(pose is not None)
            if pose is None:
                missing.append(name)
            else:
                actor.user_matrix = pose
        self.missing.text = "\n".join(f"{name}: missing" for name in missing)
