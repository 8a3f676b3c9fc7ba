"""The errors of a real navigation system that a simulated exercise adds, each with its default
magnitude, where that magnitude comes from, and a switch to leave it out and see its share.

Sources, from the camera to the CT:
- ``tracker_jitter``: each marker seen with a fresh error every frame. Optical trackers show a
  jitter of 0.08-0.10 mm for a tool (weekly QA of 4 NDI Polaris trackers: Comput Assist Surg
  2023, doi 10.1080/24699322.2023.2275522); a stylus tip held still in a reference frame in the
  PLUS recording ``WaterTankBottomTranslationTrackerBuffer`` (PlusLibData, a real tracker)
  scatters 0.14 mm RMS per frame. With gestes' built-in tools 0.05 mm per marker gives a tip in
  the reference frame 0.1 mm per frame (``registration.error_model``, Fitzpatrick 1998 eq. 46).
- ``tracker_drift``: a slow part of each marker's error (a Gauss-Markov process of 3 s): in the
  same real recording the 1 s means of the still tip wander 0.10 mm RMS and the 4 s means
  0.08 mm, where independent frames would give 0.02 mm; averaging a dwell cannot remove it.
- ``tracker_trueness``: a smooth distortion of the measurement volume, the same at a place
  whenever a marker comes back to it: NDI specifies 0.25 mm RMS volumetric accuracy for the
  Polaris Spectra (how it is measured: Wiles, Thompson & Frantz 2004, Proc SPIE 5367); its
  200 mm length scale is an assumption of ours (errors vary smoothly over the volume).
- ``pivot_calibration``: the tip the navigator uses is not the true tip: it is the result of a
  simulated pivot calibration done with the same tracker (errors above) by the same student,
  not a number drawn from a table; off, the navigator knows the true tip.
- ``ct_localisation``: the beads are registered where ``scenes.fiducials`` finds them in the CT,
  not at the phantom's true centres; the built-in CTs are ideal (exact partial volumes, no
  noise), where the detector is within 0.03 mm, so the artefacts and slice thickness of a
  clinical scan are added per bead: 0.1 mm RMS per axis in the slice, 0.2 mm across it
  (0.25 mm 3D RMS; automatic localisation of CT markers on a phantom is within 0.3 mm:
  Fattori et al. 2012, IEEE TBME 59(8)).
- ``tip_placement``: the student rests the tip near, not on, each bead's divot (its RMS is the
  skill's ``placement_error_mm`` in ``scenes.student``).
- ``skin_shift``: markers stuck on the skin (``Scene.skin_fiducials``; skull and spine: all but
  the two bone-anchored validation markers; needle box: none, its markers are on rigid acrylic)
  are not where the CT saw them: the skin slid between the scan and the session (another
  position on the table, a head rest, drapes, the pointer's pressure). Each skin marker moves
  by a smooth random field of its position (``devices.noise.VolumeDistortion``), 1.5 mm RMS,
  correlated over 300 mm: over a head or a back the markers move mostly together, so the
  registration follows them and carries every bone target along, while their residuals (the
  FRE) hardly change. This is the error FRE cannot see, and one reason why FRE and TRE are
  uncorrelated in real systems (cadaver lateral skull base, r = -0.175: Kral, Riechelmann &
  Freysinger 2011, Arch Otolaryngol Head Neck Surg 137(2), doi 10.1001/archoto.2010.249). The
  size: with skin markers, checks at rigid points find the error several times the system's
  own estimate ("Fiducial versus nonfiducial neuronavigation registration assessment and
  considerations of accuracy", Neurosurgery: 3.49 mm at four checkpoints on a rigid frame
  where the system reported 1.14 mm; 30 patients); self-adhesive markers in 44 patients gave
  a real error of 1.6 +- 0.1 mm ("Clinical evaluation of multimodality registration in
  frameless stereotaxy"); skin markers moved 0.94-1.00 mm on average (deformable motion) when
  volunteers were repositioned (skin over the liver, 4 subjects, 13 repositionings, SPIE
  Medical Imaging). 1.5 mm RMS puts the TRE at the skull's bone targets at 1.4-1.5 mm on
  average (100 seeds: benchmarks/README.md), as on a plastic skull with skin-affixed markers
  (Perwög et al. 2018, IJCARS 13: 1.69 +- 0.74 mm). The 300 mm length scale is an assumption
  of ours (the scalp slides over the skull as one sheet). Simulated as an offset of the CT
  points the registration uses (where the scan saw each marker); the CT image is not redrawn.
  The skin a stylus sweeps (the surface exercise) slid with the markers, by the same field: the
  student sweeps the skin where it lies in the session, the CT's skin less the shift
  (``simulate.Stage.session_skin``), so surface matching follows the skin too and is no cure
  for this error.

Sources not simulated: brain shift, patient motion after registration, the reference frame
knocked during the session: the report lists the ones that were.
"""

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from devices.noise import DistortionField, OpticalNoise, VolumeDistortion
from guidance.exceptions import GuidanceError
from guidance.exercises import SOURCES
from scenes.student import SKILLS, HandSettings, Skill


@dataclass(frozen=True)
class ErrorSources:
    """Which error sources are on (see the module docstring) and their magnitudes (mm, s).

    The first seven fields switch the sources; the rest are their sizes. The dataclass is the only
    home of these defaults; ``without(names)`` gives the same model with some sources off.
    """

    tracker_jitter: bool = True
    tracker_drift: bool = True
    tracker_trueness: bool = True
    pivot_calibration: bool = True
    ct_localisation: bool = True
    tip_placement: bool = True
    skin_shift: bool = True
    marker_jitter_rms_mm: float = 0.05
    marker_drift_rms_mm: float = 0.045
    drift_correlation_s: float = 3.0
    trueness_rms_mm: float = 0.25
    trueness_length_mm: float = 200.0
    ct_in_slice_sd_mm: float = 0.1
    ct_across_slice_sd_mm: float = 0.2
    skin_shift_rms_mm: float = 1.5
    skin_shift_length_mm: float = 300.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in SOURCES:
                if not isinstance(value, bool):
                    raise GuidanceError(f"error source {item.name} must be on or off (a bool)")
            elif not (isinstance(value, int | float) and math.isfinite(value) and value >= 0.0):
                raise GuidanceError(f"{item.name} must be a number >= 0; got {value!r}")
        if min(self.drift_correlation_s, self.trueness_length_mm, self.skin_shift_length_mm) <= 0:
            raise GuidanceError(
                "drift_correlation_s, trueness_length_mm and skin_shift_length_mm must be > 0"
            )

    def without(self, names: Iterable[str]) -> "ErrorSources":
        """The same model with the sources ``names`` switched off (unknown names are an error)."""
        names = [name.strip() for name in names if name.strip()]
        unknown = sorted(set(names) - set(SOURCES))
        if unknown:
            raise GuidanceError(
                f"unknown error source(s) {unknown}; the sources are {', '.join(SOURCES)}"
            )
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values.update({name: False for name in names})
        return ErrorSources(**values)

    def hand(self, skill: Skill) -> HandSettings:
        """The student's hand: the skill's, resting exactly on each point when ``tip_placement``
        is off."""
        hand = SKILLS[skill]
        return hand if self.tip_placement else dataclasses.replace(hand, placement_error_mm=0.0)

    def optical_noise(self) -> OpticalNoise:
        """The simulated camera's settings for the tracker sources that are on."""
        return OpticalNoise(
            marker_jitter_rms_mm=self.marker_jitter_rms_mm if self.tracker_jitter else 0.0,
            correlation_time_s=0.0,
            drift_rms_mm=self.marker_drift_rms_mm if self.tracker_drift else 0.0,
            drift_correlation_s=self.drift_correlation_s,
            distortion=VolumeDistortion(self.trueness_rms_mm, self.trueness_length_mm)
            if self.tracker_trueness
            else None,
        )

    def ct_error_mm(
        self, ct_direction: np.ndarray, count: int, rng: np.random.Generator
    ) -> np.ndarray:
        """The clinical-scan localisation error (count, 3) mm added to detected bead centres:
        ``ct_in_slice_sd_mm`` along the CT's first two axes, ``ct_across_slice_sd_mm`` along the
        third (``ct_direction``: the 3x3 direction matrix of the CT, columns = axes); zeros when
        the source is off."""
        if not self.ct_localisation:
            return np.zeros((count, 3))
        sd = np.array([self.ct_in_slice_sd_mm, self.ct_in_slice_sd_mm, self.ct_across_slice_sd_mm])
        axes = np.asarray(ct_direction, dtype=np.float64).reshape(3, 3)
        return (rng.standard_normal((count, 3)) * sd) @ axes.T

    def skin_shift_mm(
        self, points_mm: np.ndarray, on_skin: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Where the scan saw each fiducial relative to where it is in the session (count, 3)
        mm, for fiducials at ``points_mm`` (CT, mm): the skin's smooth shift field at those on
        the skin (``on_skin``, booleans), zero at the rigidly fixed ones; zeros when the source
        is off. ``rng`` is the shift's own stream: no other draw of a run depends on it."""
        points = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
        field = self.skin_shift_field(rng)
        if field is None:
            return np.zeros_like(points)
        return field.displacement_mm(points) * np.asarray(on_skin, dtype=bool)[:, None]

    def skin_shift_field(self, rng: np.random.Generator) -> DistortionField | None:
        """The skin's shift from the session to the scan as a field of CT position (mm), drawn
        from ``rng``; None when the source is off. One field moves the skin markers and the
        skin a stylus sweeps alike."""
        if not self.skin_shift:
            return None
        return VolumeDistortion(self.skin_shift_rms_mm, self.skin_shift_length_mm).field(rng)

    def report(
        self, placement_rms_mm: float, skin_fiducials: Sequence[str]
    ) -> list[dict[str, object]]:
        """The ``errors_simulated`` entries of a report: source, on or off, size, reference
        (``skin_fiducials``: the labels of the scene's markers on the skin)."""
        on_skin = (
            f"the skin a stylus sweeps and {', '.join(skin_fiducials)}, the markers stuck on it; "
            "the others are fixed rigidly and do not move"
            if skin_fiducials
            else "the skin a stylus sweeps; none of this scene's markers is on the skin"
        )
        entries = {
            "tracker_jitter": (
                f"{self.marker_jitter_rms_mm} mm RMS per marker per frame",
                "QA of NDI trackers, Comput Assist Surg 2023 (jitter 0.08-0.10 mm); real PLUS "
                "recording (0.14 mm tip RMS)",
            ),
            "tracker_drift": (
                f"{self.marker_drift_rms_mm} mm RMS per marker, correlation "
                f"{self.drift_correlation_s} s",
                "real PLUS recording: 1 s means of a still tip wander 0.10 mm RMS",
            ),
            "tracker_trueness": (
                f"{self.trueness_rms_mm} mm RMS over the volume, length scale "
                f"{self.trueness_length_mm} mm",
                "NDI Polaris Spectra volumetric accuracy; Wiles et al. 2004, Proc SPIE 5367",
            ),
            "pivot_calibration": (
                "the tip from a simulated pivot calibration with these tracker errors",
                "Yaniv 2015, Proc SPIE 9415 (the calibration gestes runs)",
            ),
            "ct_localisation": (
                f"{self.ct_in_slice_sd_mm} mm SD in the slice, {self.ct_across_slice_sd_mm} mm "
                "across it, on top of the detected bead centres",
                "Fattori et al. 2012, IEEE TBME 59(8): within 0.3 mm on a phantom",
            ),
            "tip_placement": (
                f"{placement_rms_mm} mm RMS across the surface (the student's skill)",
                "an assumption of gestes (a divot centres the tip)",
            ),
            "skin_shift": (
                f"{self.skin_shift_rms_mm} mm RMS between the scan and the session, "
                f"correlated over {self.skin_shift_length_mm} mm: {on_skin}",
                "Neurosurgery, fiducial versus nonfiducial registration: 3.49 mm at rigid "
                "checkpoints with skin markers, 1.14 mm reported by the system; Perwög et al. "
                "2018, IJCARS 13: TRE 1.69 mm, skin-affixed markers on a plastic skull",
            ),
        }
        return [
            {
                "source": name,
                "enabled": getattr(self, name),
                "magnitude": entries[name][0],
                "reference": entries[name][1],
            }
            for name in SOURCES
        ]
