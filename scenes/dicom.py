"""DICOM series: discovery in a folder, choice among several, exact-geometry reading, writing.

ITK builds one regular grid from a series; we check each slice's Image Position (Patient) against
that grid, so that missing slices or uneven spacing become warnings and a gantry tilt (slices
sheared rather than stacked) is refused, instead of a silently wrong geometry.
"""

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from scenes.exceptions import (
    CorruptVolumeError,
    GantryTiltError,
    NoDicomSeriesError,
    SeriesSelectionError,
    UnsupportedFormatError,
)
from scenes.physical import index_to_physical

logger = logging.getLogger(__name__)

TAG_MODALITY = "0008|0060"
TAG_SERIES_DESCRIPTION = "0008|103e"
TAG_SERIES_UID = "0020|000e"
TAG_POSITION = "0020|0032"
TAG_ORIENTATION = "0020|0037"
TAG_PIXEL_SPACING = "0028|0030"

# A slice whose position differs from the regular grid by more than this is reported (mm).
POSITION_TOL_MM = 0.01
# A shear of the slice stack steeper than this is a gantry tilt (degrees).
TILT_TOL_DEG = 0.05
# Largest deviation of the orientation's row and column cosines from unit length and right angles
# (DICOM stores them as decimal strings of at most 16 characters).
ORIENTATION_TOL = 1e-4


@dataclass(frozen=True)
class DicomSeries:
    """One series found in a folder: its UID, description, modality and its files in slice order."""

    uid: str
    description: str
    modality: str
    files: tuple[Path, ...]

    def summary(self) -> str:
        """One line for listings: UID, description, modality and slice count."""
        uid = self.uid or "(no UID)"
        return f"{uid} '{self.description}' {self.modality or '?'} {len(self.files)} files"


@dataclass(frozen=True)
class LoadedVolume:
    """A volume read from ``path`` (file or DICOM folder) and what the file says about it.

    ``modality`` and ``series_uid`` are empty when the format does not record them; ``warnings``
    lists geometry problems that did not prevent reading (also logged).
    """

    path: Path
    image: sitk.Image
    modality: str
    series_uid: str
    warnings: tuple[str, ...]


@contextlib.contextmanager
def quiet_itk() -> Iterator[None]:
    """Silence ITK's own warnings on stderr; our checks report the same problems with file names."""
    previous = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(previous)


def _file_tags(path: Path) -> dict[str, str]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with quiet_itk():
            reader.ReadImageInformation()
    except RuntimeError as error:
        raise CorruptVolumeError(
            f"{path}: not a readable DICOM file ({error_line(error)})"
        ) from None
    return {key: reader.GetMetaData(key).strip() for key in reader.GetMetaDataKeys()}


def error_line(error: RuntimeError) -> str:
    """The informative last line of a SimpleITK exception message, without the C++ location."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def list_dicom_series(folder: Path) -> tuple[DicomSeries, ...]:
    """Every DICOM series directly in ``folder`` (not recursive), files sorted along the normal."""
    folder = Path(folder)
    with quiet_itk():
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    series = []
    for uid in uids:
        with quiet_itk():
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)
        if not files:
            continue
        tags = _file_tags(Path(files[0]))
        series.append(
            DicomSeries(
                uid=uid,
                description=tags.get(TAG_SERIES_DESCRIPTION, ""),
                modality=tags.get(TAG_MODALITY, ""),
                files=tuple(Path(name) for name in files),
            )
        )
    if not series:
        subfolders = sorted(path.name for path in folder.iterdir() if path.is_dir())
        hint = (
            f"; it has subfolders {subfolders[:5]}: point at the one holding the slices"
            if subfolders
            else ""
        )
        raise NoDicomSeriesError(f"{folder}: no DICOM series in this folder{hint}")
    return tuple(series)


def _has_dicom_preamble(path: Path) -> bool:
    with path.open("rb") as stream:
        stream.seek(128)
        return stream.read(4) == b"DICM"


def left_out_files(folder: Path, series: Sequence[DicomSeries]) -> tuple[Path, ...]:
    """DICOM files in ``folder`` that belong to no series: GDCM could not read them."""
    listed = {path.resolve() for item in series for path in item.files}
    return tuple(
        path
        for path in sorted(Path(folder).iterdir())
        if path.is_file()
        and path.name.upper() != "DICOMDIR"
        and path.resolve() not in listed
        and _has_dicom_preamble(path)
    )


def choose_series(folder: Path, series: Sequence[DicomSeries], choice: str | None) -> DicomSeries:
    """The series whose UID or description is ``choice``; the only one when ``choice`` is None."""
    listing = "; ".join(item.summary() for item in series)
    if choice is None:
        if len(series) == 1:
            return series[0]
        raise SeriesSelectionError(
            f"{folder}: {len(series)} DICOM series, choose one by UID or description: {listing}"
        )
    matches = [item for item in series if choice in (item.uid, item.description)]
    if len(matches) != 1:
        found = "no series" if not matches else f"{len(matches)} series"
        raise SeriesSelectionError(f"{folder}: {found} match '{choice}'; available: {listing}")
    return matches[0]


def _floats(text: str, count: int, what: str, path: Path) -> np.ndarray:
    try:
        values = np.array([float(part) for part in text.split("\\")], dtype=np.float64)
    except ValueError:
        values = np.empty(0)
    if values.shape != (count,):
        raise CorruptVolumeError(f"{path}: {what} must be {count} numbers; got '{text}'")
    if not np.all(np.isfinite(values)):
        raise CorruptVolumeError(f"{path}: {what} has a NaN or infinite value: '{text}'")
    return values


def _checked_orientation(text: str, path: Path) -> np.ndarray:
    """Image Orientation (Patient): the row and column direction cosines, unit and orthogonal
    (ITK would replace an all-zero or skewed orientation by the identity without a word)."""
    values = _floats(text, 6, f"Image Orientation (Patient) {TAG_ORIENTATION}", path)
    row, column = values[:3], values[3:]
    gram = np.array([[row @ row, row @ column], [row @ column, column @ column]])
    if not np.allclose(gram, np.eye(2), atol=ORIENTATION_TOL):
        raise CorruptVolumeError(
            f"{path}: Image Orientation (Patient) {TAG_ORIENTATION} '{text}' is not two unit "
            "vectors at right angles"
        )
    return values


def _check_pixel_spacing(text: str | None, path: Path) -> None:
    """Pixel Spacing (row, column; mm) must be two positive numbers (ITK turns 0 or NaN into 1)."""
    if text is None:
        return  # optional for some modalities: ITK then uses 1 mm, and says so in its spacing
    values = _floats(text, 2, f"Pixel Spacing {TAG_PIXEL_SPACING}", path)
    if not np.all(values > 0):
        raise CorruptVolumeError(
            f"{path}: Pixel Spacing {TAG_PIXEL_SPACING} '{text}' must be two positive numbers (mm)"
        )


def _check_geometry(
    image: sitk.Image, positions: np.ndarray, orientation: np.ndarray, where: str
) -> list[str]:
    """Refuse a tilted stack; warn when slices do not sit on the regular grid ITK built."""
    normal = np.cross(orientation[:3], orientation[3:])
    offsets = positions - positions[0]
    along = offsets @ normal
    in_plane = np.linalg.norm(offsets - np.outer(along, normal), axis=1)
    if len(positions) > 1 and abs(along[-1]) > 0:
        tilt_deg = float(np.degrees(np.arctan2(in_plane[-1], abs(along[-1]))))
        if tilt_deg > TILT_TOL_DEG:
            raise GantryTiltError(
                f"{where}: gantry-tilted series, slices are sheared by {tilt_deg:.2f} degrees "
                "instead of stacked along the slice normal; resample it to a regular grid first"
            )
    warnings = []
    grid = index_to_physical(
        image, np.column_stack([np.zeros((len(positions), 2)), np.arange(len(positions))])
    )
    deviation = float(np.max(np.linalg.norm(grid - positions, axis=1)))
    if deviation > POSITION_TOL_MM:
        gaps = np.abs(np.diff(along))
        warnings.append(
            f"{where}: non-uniform slice spacing (gaps {gaps.min():.3f} to {gaps.max():.3f} mm; "
            f"missing slices?); the volume uses {image.GetSpacing()[2]:.3f} mm and slices are "
            f"up to {deviation:.3f} mm from their true position"
        )
    if len(positions) == 1:
        warnings.append(f"{where}: a single slice, not a volume")
    for message in warnings:
        logger.warning(message)
    return warnings


def read_dicom_series(folder: Path, series: DicomSeries) -> LoadedVolume:
    """Read one series into a 3D image in HU (rescale applied by GDCM) with its geometry checked."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(path) for path in series.files])
    reader.MetaDataDictionaryArrayUpdateOn()
    where = f"{folder} (series '{series.description or series.uid}')"
    try:
        with quiet_itk():
            image = reader.Execute()
    except RuntimeError as error:
        raise CorruptVolumeError(f"{where}: cannot read the slices ({error_line(error)})") from None
    positions = []
    for index, path in enumerate(series.files):
        if not reader.HasMetaDataKey(index, TAG_POSITION):
            raise CorruptVolumeError(f"{path}: no Image Position (Patient) tag {TAG_POSITION}")
        text = reader.GetMetaData(index, TAG_POSITION)
        positions.append(_floats(text, 3, f"Image Position (Patient) {TAG_POSITION}", path))
        spacing = (
            reader.GetMetaData(index, TAG_PIXEL_SPACING)
            if reader.HasMetaDataKey(index, TAG_PIXEL_SPACING)
            else None
        )
        _check_pixel_spacing(spacing, path)
    first = series.files[0]
    if not reader.HasMetaDataKey(0, TAG_ORIENTATION):
        raise CorruptVolumeError(f"{first}: no Image Orientation (Patient) tag {TAG_ORIENTATION}")
    orientation = _checked_orientation(reader.GetMetaData(0, TAG_ORIENTATION), first)
    warnings = _check_geometry(image, np.array(positions), orientation, where)
    return LoadedVolume(folder, image, series.modality, series.uid, tuple(warnings))


def read_dicom_folder(folder: Path, choice: str | None) -> LoadedVolume:
    """Read the chosen series of a folder; DICOM files no series could use become warnings."""
    found = list_dicom_series(folder)
    loaded = read_dicom_series(folder, choose_series(folder, found, choice))
    skipped = [
        f"{path}: DICOM file left out of every series (truncated, corrupt or not an image)"
        for path in left_out_files(folder, found)
    ]
    for message in skipped:
        logger.warning(message)
    return dataclasses.replace(loaded, warnings=(*loaded.warnings, *skipped))


def read_dicom_file(path: Path) -> LoadedVolume:
    """Read one DICOM file (one slice or a multi-frame volume) in HU, with its modality and UID."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("GDCMImageIO")
    try:
        with quiet_itk():
            image = reader.Execute()
    except RuntimeError as error:
        raise CorruptVolumeError(
            f"{path}: not a readable DICOM file ({error_line(error)})"
        ) from None
    tags = {key: reader.GetMetaData(key).strip() for key in reader.GetMetaDataKeys()}
    _check_pixel_spacing(tags.get(TAG_PIXEL_SPACING), path)
    if TAG_POSITION in tags:
        _floats(tags[TAG_POSITION], 3, f"Image Position (Patient) {TAG_POSITION}", path)
    if TAG_ORIENTATION in tags:
        _checked_orientation(tags[TAG_ORIENTATION], path)
    warnings = []
    if image.GetDimension() == 3 and image.GetSize()[2] == 1:
        warnings.append(f"{path}: a single slice, not a volume")
        logger.warning(warnings[-1])
    return LoadedVolume(
        path, image, tags.get(TAG_MODALITY, ""), tags.get(TAG_SERIES_UID, ""), tuple(warnings)
    )


def new_uid() -> str:
    """A fresh DICOM UID under the UUID-derived root 2.25 (PS3.5 B.2)."""
    return f"2.25.{uuid.uuid4().int}"


def save_dicom_series(
    image: sitk.Image, folder: Path, description: str, series_uid: str | None = None
) -> tuple[Path, ...]:
    """Write a 3D int16 HU image as a CT series, one file per slice, geometry in the tags.

    ``ImageSeriesWriter`` refuses DICOM, so each slice is written with its own Image Position.
    Returns the written files in slice order.
    """
    if image.GetDimension() != 3 or image.GetPixelID() != sitk.sitkInt16:
        raise UnsupportedFormatError(
            f"{folder}: a DICOM series is written from a 3D int16 image; got "
            f"{image.GetDimension()}D {image.GetPixelIDTypeAsString()}"
        )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or new_uid()
    direction = image.GetDirection()
    orientation = "\\".join(f"{value:.10g}" for value in (*direction[0::3], *direction[1::3]))
    common = {
        TAG_MODALITY: "CT",
        TAG_SERIES_DESCRIPTION: description,
        TAG_SERIES_UID: series_uid,
        "0020|000d": series_uid + ".1",
        TAG_ORIENTATION: orientation,
        "0008|0008": "DERIVED\\SECONDARY",
        "0018|0050": f"{image.GetSpacing()[2]:.10g}",
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    paths = []
    for k in range(image.GetSize()[2]):
        slice_image = image[:, :, k]
        for key, value in common.items():
            slice_image.SetMetaData(key, value)
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        slice_image.SetMetaData(TAG_POSITION, "\\".join(f"{value:.10g}" for value in position))
        slice_image.SetMetaData("0020|0013", str(k + 1))
        slice_image.SetMetaData("0008|0018", f"{series_uid}.{k + 1}")
        path = folder / f"slice_{k:04d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(slice_image)
        paths.append(path)
    return tuple(paths)
