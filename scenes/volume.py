"""Load and save CT volumes (NRRD, NIfTI, MetaImage, DICOM file or series) with exact geometry.

Images come back as SimpleITK images in HU (DICOM rescale slope/intercept applied) with origin,
spacing and direction in physical LPS millimetres, exactly as stored. NIfTI stores RAS; ITK
converts it to LPS on reading and back on writing.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from scenes.dicom import (
    LoadedVolume,
    error_line,
    quiet_itk,
    read_dicom_file,
    read_dicom_folder,
    save_dicom_series,
)
from scenes.exceptions import (
    CorruptVolumeError,
    NotAVolumeError,
    SeriesSelectionError,
    UnsupportedFormatError,
    VolumeNotFoundError,
)
from scenes.volume_header import ORTHONORMAL_TOL, check_volume_file

logger = logging.getLogger(__name__)

FILE_FORMATS = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima", "")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _read_file(path: Path) -> sitk.Image:
    check_volume_file(path, _suffix(path))
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with quiet_itk():
            return reader.Execute()
    except RuntimeError as error:
        raise CorruptVolumeError(f"{path}: cannot read the image ({error_line(error)})") from None


def read_volume(path: Path | str, series: str | None = None) -> LoadedVolume:
    """Read a volume file or a DICOM folder; ``series`` picks a DICOM series by UID or description.

    Raises a ``SceneError`` subclass naming the file for a missing path, an unknown format, a
    corrupt file, a 2D image, a folder without DICOM, an ambiguous series or a gantry tilt.
    """
    path = Path(path)
    if not path.exists():
        raise VolumeNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        loaded = read_dicom_folder(path, series)
    elif series is not None:
        raise SeriesSelectionError(
            f"{path}: a series ('{series}') can only be chosen in a DICOM folder, not in a file"
        )
    elif _suffix(path) in FILE_FORMATS:
        loaded = LoadedVolume(path, _read_file(path), modality="", series_uid="", warnings=())
    elif _suffix(path) in DICOM_SUFFIXES:
        loaded = read_dicom_file(path)
    else:
        raise UnsupportedFormatError(
            f"{path}: unknown volume format '{_suffix(path)}'; expected a DICOM file or folder or "
            f"one of {', '.join(FILE_FORMATS)}"
        )
    image = loaded.image
    if image.GetDimension() != 3:
        raise NotAVolumeError(
            f"{path}: a {image.GetDimension()}D image of size {image.GetSize()}; "
            "expected a 3D volume"
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise NotAVolumeError(
            f"{path}: {image.GetNumberOfComponentsPerPixel()} components per voxel; expected a "
            "scalar (grey-level) volume"
        )
    check_geometry(image, str(path))
    logger.info("read %s: size %s spacing %s", path, image.GetSize(), image.GetSpacing())
    return loaded


def check_geometry(image: sitk.Image, where: str) -> None:
    """Raise CorruptVolumeError unless ``image`` has voxels, a finite origin, positive finite
    spacing and an orthonormal direction: the last guard after any reader's own repairs."""
    size = image.GetSize()
    origin = np.array(image.GetOrigin())
    spacing = np.array(image.GetSpacing())
    dimension = image.GetDimension()
    direction = np.array(image.GetDirection()).reshape(dimension, dimension)
    if min(size) < 1:
        raise CorruptVolumeError(f"{where}: size {size}: an image without voxels")
    if not np.all(np.isfinite(origin)):
        raise CorruptVolumeError(f"{where}: origin {tuple(origin)} is not finite")
    if not (np.all(np.isfinite(spacing)) and np.all(spacing > 0)):
        raise CorruptVolumeError(f"{where}: spacing {tuple(spacing)} must be positive (mm)")
    if not np.allclose(direction.T @ direction, np.eye(dimension), atol=ORTHONORMAL_TOL):
        raise CorruptVolumeError(f"{where}: direction {tuple(direction.ravel())} is not a rotation")


def load_volume(path: Path | str, series_uid: str | None = None) -> sitk.Image:
    """The 3D image (HU, LPS) in a volume file or DICOM folder; see ``read_volume``."""
    return read_volume(path, series_uid).image


def require_volume(image: sitk.Image, where: str, min_slices: int = 2) -> None:
    """Raise NotAVolumeError unless ``image`` is 3D with at least ``min_slices`` along each axis."""
    if image.GetDimension() != 3 or min(image.GetSize()) < min_slices:
        raise NotAVolumeError(
            f"{where}: size {image.GetSize()}; expected a 3D volume with at least {min_slices} "
            "voxels along each axis"
        )


def save_volume(image: sitk.Image, path: Path | str, compress: bool = False) -> Path:
    """Write ``image`` to a volume file (by extension) or, for a suffix-less path, a DICOM series.

    Geometry is written exactly; returns ``path``.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix == "":
        save_dicom_series(image, path, description=path.name)
        return path
    if suffix not in FILE_FORMATS:
        raise UnsupportedFormatError(
            f"{path}: cannot write '{suffix}'; expected one of {', '.join(FILE_FORMATS)} or a "
            "folder name (DICOM series)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        sitk.WriteImage(image, str(path), useCompression=compress)
    except RuntimeError as error:
        raise CorruptVolumeError(f"{path}: cannot write the image ({error_line(error)})") from None
    return path


def hu_range(image: sitk.Image) -> tuple[float, float]:
    """Smallest and largest voxel values (HU for CT)."""
    array = sitk.GetArrayViewFromImage(image)
    return float(np.min(array)), float(np.max(array))


@dataclass(frozen=True)
class VolumeInfo:
    """What ``gestes volume info`` reports: geometry (LPS mm), HU range, DICOM identity.

    Field names are the JSON keys of the command.
    """

    path: str
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]  # 3x3 row-major; columns are the i, j, k axes in LPS
    pixel_type: str
    hu_min: float
    hu_max: float
    modality: str | None
    series_uid: str | None
    warnings: tuple[str, ...]


def describe_volume(loaded: LoadedVolume) -> VolumeInfo:
    """The summary of a loaded volume, plain values only (ready for JSON)."""
    image = loaded.image
    low, high = hu_range(image)
    return VolumeInfo(
        path=str(loaded.path),
        size=tuple(int(n) for n in image.GetSize()),
        spacing=tuple(float(s) for s in image.GetSpacing()),
        origin=tuple(float(o) for o in image.GetOrigin()),
        direction=tuple(float(d) for d in image.GetDirection()),
        pixel_type=image.GetPixelIDTypeAsString(),
        hu_min=low,
        hu_max=high,
        modality=loaded.modality or None,
        series_uid=loaded.series_uid or None,
        warnings=loaded.warnings,
    )
