"""A report dict as ``gestes exercise fiducials`` writes it, on the skull phantom (built once)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from scenes.phantoms import PhantomKind, build_phantom
from scenes.scene import Scene

REPO = Path(__file__).resolve().parents[3]
SNAPSHOT = REPO / "docs" / "navigation.png"


@pytest.fixture(scope="session")
def skull() -> Scene:
    return build_phantom(PhantomKind.SKULL, seed=0)


def sample_report(scene: Scene) -> dict:
    """A plausible fiducials-exercise report: every part of the schema, plain JSON types."""
    errors = np.random.default_rng(1).gamma(4.0, 0.15, len(scene.fiducials_mm))
    fiducials = [
        {
            "label": label,
            "ct_mm": point.tolist(),
            "used": i < 7,
            "residual_mm": float(e) if i < 7 else None,
            "measured_tre_mm": None if i < 7 else float(e),
            "captured": True,
        }
        for i, (label, point, e) in enumerate(
            zip(scene.fiducial_labels, scene.fiducials_mm, errors, strict=True)
        )
    ]
    targets = [
        {
            "label": label,
            "ct_mm": point.tolist(),
            "predicted_tre_rms_mm": 0.42 + 0.1 * i,
            "predicted_tre_from_scatter_mm": 0.1,
            "registration_error_mm": 0.5 + 0.05 * i,
        }
        for i, (label, point) in enumerate(zip(scene.target_labels, scene.targets_mm, strict=True))
    ]
    report = {
        "exercise": "fiducials",
        "gestes_version": "0.1.0",
        "scene": {"name": scene.name, "description": "skull phantom", "source": "builtin:skull"},
        "settings": {"seed": 0, "skill": "novice", "tracker": "sim"},
        "score": {"fre_rms_mm": 0.61, "max_residual_mm": 1.02, "validation_tre_rms_mm": 0.55},
        "errors_simulated": [
            {
                "source": "marker jitter",
                "enabled": True,
                "magnitude": "0.25 mm RMS",
                "reference": "Wiles et al. 2004",
            },
            {
                "source": "CT bead localisation",
                "enabled": False,
                "magnitude": "0.3 mm RMS",
                "reference": "Fitzpatrick 1998",
            },
        ],
        "fiducials": fiducials,
        "targets": targets,
        "warnings": ["F3 was touched for less than the still time"],
        "snapshots": [{"file": "snapshot-1.png", "caption": "the stylus on the first target"}],
        "tre_map": {"target": scene.target_labels[0], "fle_rms_mm": 0.7},
    }
    return json.loads(json.dumps(report))  # exactly what report.json gives back


@pytest.fixture
def report_folder(tmp_path: Path) -> Path:
    """A run folder with its snapshot, as the exercise runner leaves it."""
    shutil.copy(SNAPSHOT, tmp_path / "snapshot-1.png")
    return tmp_path
