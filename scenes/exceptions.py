"""Exceptions raised while loading or building scenes.

Every message names the file (or the value) and says what is wrong, expected against received,
so that a student can fix the input without reading a traceback.
"""


class SceneError(Exception):
    """Base of every error raised by ``scenes``; messages name the file and what is wrong."""


class VolumeNotFoundError(SceneError):
    """The path of a volume (file or DICOM folder) does not exist."""


class UnsupportedFormatError(SceneError):
    """The file extension is not one of the volume or markups formats gestes reads or writes."""


class CorruptVolumeError(SceneError):
    """The file exists but cannot be decoded as an image (truncated, corrupt, wrong content)."""


class NotAVolumeError(SceneError):
    """The image is 2D (or has a single slice) where a 3D volume is needed."""


class NoDicomSeriesError(SceneError):
    """A folder holds no readable DICOM series."""


class SeriesSelectionError(SceneError):
    """A folder holds several DICOM series and none (or no matching one) was chosen."""


class GantryTiltError(SceneError):
    """A DICOM series is acquired with a tilted gantry: its slices are sheared, not stacked."""


class EmptySurfaceError(SceneError):
    """No voxel crosses the threshold: the isosurface is empty."""


class MarkupsError(SceneError):
    """A markups file (``.mrk.json``, ``.fcsv``) is malformed or holds other things than points."""


class SceneFormatError(SceneError):
    """A scene folder or its ``scene.toml`` is missing, malformed or inconsistent."""


class FiducialDetectionError(SceneError):
    """Bead detection in a CT found nothing usable (no bright blob of the expected size)."""


class CorruptMeshError(SceneError):
    """A mesh file exists but cannot be read as a surface (truncated, corrupt, no triangles)."""
