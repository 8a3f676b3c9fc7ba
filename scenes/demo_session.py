"""The built-in scripted session of ``sim:demo``: a student pivots the stylus in a divot, then
touches four points, beside a reference tool; no scene needed.

The reference hangs still 1.3 m in front of the camera (Polaris-like tracker frame: the camera at
the origin looks down -z, y up), its markers facing the camera. The divot and the four points
(corners of a 60 mm square) lie 150 mm to the right of it, each approached from above (+y). The
hand is ``scenes.student``'s expert (minimum-jerk reaches, tremor, a tip resting within tenths of
a millimetre of each point), so the session is a small version of what the exercises record.
Tracker frame, mm, s.
"""

import numpy as np

from registration.transforms import make_rigid
from scenes.motions import StylusGeometry, Touch
from scenes.student import SKILLS, Skill, StudentMotion, StudentScript

# Tool +x (marker normals) toward the camera (+z), tool +z (tip to markers) up (+y).
FACING_CAMERA = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
REFERENCE_POSITION_MM = np.array([-150.0, -40.0, -1300.0])
PIVOT_POINT_MM = np.array([0.0, -120.0, -1250.0])
TOUCH_POINTS_MM = np.array(
    [
        [0.0, -120.0, -1280.0],
        [60.0, -120.0, -1280.0],
        [60.0, -120.0, -1220.0],
        [0.0, -120.0, -1220.0],
    ]
)
UP = np.array([0.0, 1.0, 0.0])
# The hand travels between points on arcs around this point, below the square.
CENTRE_MM = np.array([30.0, -200.0, -1250.0])
SEED = 0


def demo_motion(stylus: StylusGeometry) -> StudentMotion:
    """The ``sim:demo`` script for a stylus of this geometry: the pivot (event ``pivot``), then
    the touches ``P1``..``P4`` (dwells), always the same (a fixed seed)."""
    student = StudentScript(SKILLS[Skill.EXPERT], stylus, CENTRE_MM, PIVOT_POINT_MM, UP, SEED)
    student.pivot("pivot", PIVOT_POINT_MM, UP)
    for k, point in enumerate(TOUCH_POINTS_MM):
        student.touch(Touch(f"P{k + 1}", point, UP))
    return student.motion(make_rigid(FACING_CAMERA, REFERENCE_POSITION_MM))
