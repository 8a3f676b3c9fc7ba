"""TRE and FRE predictions (Fitzpatrick, West & Maurer 1998) against Monte-Carlo simulation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from registration.exceptions import RegistrationError
from registration.paired_point import register_paired_points
from registration.transforms import apply_transform, make_rigid
from registration.tre import (
    FreCheck,
    expected_fre_rms,
    predict_tre_rms,
    predict_tre_rms_anisotropic,
)

FLE_RMS_MM = 0.5
TRIALS = 6000
# Monte-Carlo RMS over 6000 trials has a relative standard error < 1%; the first-order
# prediction is within ~1% at this FLE / fiducial-spread ratio: 5% leaves room for both.
MC_REL_TOL = 0.05

TILT = Rotation.from_rotvec([0.4, -0.7, 0.3]).as_matrix()  # off the coordinate axes


def _elongated_layout() -> np.ndarray:
    """Five fiducials along a 160 mm bar, +-10 mm across it, tilted off the coordinate axes."""
    bar = np.array(
        [[-80.0, 0, 0], [-40, 10, -4], [0, -10, 5], [40, 8, 4], [80, -6, -5]], dtype=np.float64
    )
    return bar @ TILT.T + [10.0, 20.0, 30.0]


def _compact_layout() -> np.ndarray:
    """Six fiducials around a 50 mm sphere, tilted."""
    cloud = np.array(
        [[50.0, 0, 0], [-45, 10, 0], [0, 50, 5], [5, -50, 0], [0, 5, 50], [10, 0, -45]]
    )
    return cloud @ TILT.T


def _targets(fiducials: np.ndarray) -> np.ndarray:
    centre = fiducials.mean(axis=0)
    return centre + np.array([[0.0, 0, 0], [0, 0, 90], [0, 100, 0], [120, 0, 0], [60, -60, 40]])


def _simulate(fiducials: np.ndarray, targets: np.ndarray, seed: int):
    """Register noisy copies of the fiducials (isotropic FLE on the moving side) to the truth.

    Returns (simulated RMS TRE at each target, mean FRE^2) over TRIALS trials.
    """
    rng = np.random.default_rng(seed)
    fixed_from_moving_true = make_rigid(
        Rotation.from_rotvec([0.2, 0.1, -0.3]).as_matrix(), [5, 6, 7]
    )
    moving_from_fixed = np.linalg.inv(fixed_from_moving_true)
    moving_true = apply_transform(moving_from_fixed, fiducials)
    targets_moving = apply_transform(moving_from_fixed, targets)
    sigma = FLE_RMS_MM / np.sqrt(3.0)
    noisy = moving_true + rng.normal(0.0, sigma, (TRIALS, *fiducials.shape))
    matrices = np.empty((TRIALS, 4, 4))
    fre_sq = np.empty(TRIALS)
    for trial in range(TRIALS):
        result = register_paired_points(fiducials, noisy[trial])
        matrices[trial] = result.fixed_from_moving
        fre_sq[trial] = result.fre_rms_mm**2
    mapped = (
        np.einsum("tij,mj->tmi", matrices[:, :3, :3], targets_moving) + matrices[:, None, :3, 3]
    )
    tre_sq = np.sum((mapped - targets) ** 2, axis=2)
    return np.sqrt(tre_sq.mean(axis=0)), fre_sq.mean()


@pytest.mark.parametrize(
    ("layout", "seed"), [(_elongated_layout, 1), (_compact_layout, 2)], ids=["elongated", "compact"]
)
def test_predicted_tre_matches_monte_carlo(layout, seed):
    fiducials = layout()
    targets = _targets(fiducials)
    simulated, _ = _simulate(fiducials, targets, seed)
    predicted = predict_tre_rms(fiducials, FLE_RMS_MM, targets)
    np.testing.assert_allclose(predicted, simulated, rtol=MC_REL_TOL)


@pytest.mark.parametrize(
    ("layout", "seed"), [(_elongated_layout, 3), (_compact_layout, 4)], ids=["elongated", "compact"]
)
def test_expected_fre_matches_monte_carlo(layout, seed):
    fiducials = layout()
    _, mean_fre_sq = _simulate(fiducials, fiducials[:1], seed)
    n = len(fiducials)
    assert mean_fre_sq == pytest.approx((1 - 2 / n) * FLE_RMS_MM**2, rel=MC_REL_TOL)
    assert np.sqrt(mean_fre_sq) == pytest.approx(expected_fre_rms(n, FLE_RMS_MM), rel=MC_REL_TOL)


def _tangential_covariances(fiducials: np.ndarray) -> np.ndarray:
    """Per-fiducial FLE covariances as a stylus held along the skin normal gives them: 0.1 mm RMS
    along the radius from the centroid, 0.6 mm RMS across it, times a scale growing from 1 to 2
    from one fiducial to the next (as far from a patient reference)."""
    radial = fiducials - fiducials.mean(axis=0)
    radial /= np.linalg.norm(radial, axis=1, keepdims=True)
    scale = np.linspace(1.0, 2.0, len(fiducials))[:, None, None]
    along = np.einsum("ni,nj->nij", radial, radial)
    return scale**2 * (0.1**2 * along + 0.6**2 / 2 * (np.eye(3) - along))


def test_anisotropic_prediction_matches_monte_carlo_where_eq_46_does_not():
    """6000 trials: the Monte-Carlo RMS has a relative standard error < 1%; the first-order
    prediction must be within MC_REL_TOL of it, while eq. 46 fed the same RMS FLE misses the far
    targets by more than 15% (the rotation is set by the tangential errors only)."""
    fiducials = _compact_layout()
    targets = _targets(fiducials)
    covariances = _tangential_covariances(fiducials)
    rng = np.random.default_rng(5)
    factors = np.linalg.cholesky(covariances)
    errors = np.einsum("nij,tnj->tni", factors, rng.standard_normal((TRIALS, len(fiducials), 3)))
    mapped = np.empty((TRIALS, len(targets), 3))
    for trial in range(TRIALS):
        result = register_paired_points(fiducials, fiducials + errors[trial])
        mapped[trial] = apply_transform(result.fixed_from_moving, targets)
    simulated = np.sqrt(np.mean(np.sum((mapped - targets) ** 2, axis=2), axis=0))
    predicted = predict_tre_rms_anisotropic(fiducials, covariances, targets)
    np.testing.assert_allclose(predicted, simulated, rtol=MC_REL_TOL)
    fle_rms = np.sqrt(np.trace(covariances, axis1=1, axis2=2).mean())
    isotropic = predict_tre_rms(fiducials, fle_rms, targets)
    assert np.max(np.abs(isotropic / simulated - 1.0)) > 0.15


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3),
    st.floats(0.01, 5.0),
)
def test_anisotropic_prediction_with_equal_isotropic_fle_is_eq_46(rotvec, fle_rms_mm):
    motion = make_rigid(Rotation.from_rotvec(rotvec).as_matrix(), [3.0, -4.0, 5.0])
    fiducials = apply_transform(motion, _elongated_layout())
    targets = apply_transform(motion, _targets(_elongated_layout()))
    covariances = np.tile(np.eye(3) * fle_rms_mm**2 / 3.0, (len(fiducials), 1, 1))
    np.testing.assert_allclose(
        predict_tre_rms_anisotropic(fiducials, covariances, targets),
        predict_tre_rms(fiducials, fle_rms_mm, targets),
        rtol=1e-9,
    )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3))
def test_anisotropic_prediction_is_invariant_under_rotation_of_the_whole_setup(rotvec):
    """Covariances turn with the setup (R C R^T); the predicted RMS must not change."""
    rotation = Rotation.from_rotvec(rotvec).as_matrix()
    fiducials = _compact_layout()
    targets = _targets(fiducials)
    covariances = _tangential_covariances(fiducials)
    before = predict_tre_rms_anisotropic(fiducials, covariances, targets)
    after = predict_tre_rms_anisotropic(
        fiducials @ rotation.T, rotation @ covariances @ rotation.T, targets @ rotation.T
    )
    np.testing.assert_allclose(after, before, rtol=1e-9)


def _cross(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def _textbook_anisotropic_tre(fiducials, covariances, targets) -> np.ndarray:
    """Danilchenko & Fitzpatrick 2011 as written: ``sum_i trace(A_i C_i A_i^T)`` with
    ``A_i = I/N - [y - c]x M^-1 [r_i]x``, one target and one fiducial at a time (the reference
    for ``predict_tre_rms_anisotropic``'s closed-form quadratic)."""
    n = len(fiducials)
    centre = fiducials.mean(axis=0)
    offsets = fiducials - centre
    m = sum(_cross(r) @ _cross(r).T for r in offsets)
    m_inverse = np.linalg.inv(m)
    result = []
    for target in targets:
        total = 0.0
        for r, covariance in zip(offsets, covariances, strict=True):
            a = np.eye(3) / n - _cross(target - centre) @ m_inverse @ _cross(r)
            total += np.trace(a @ covariance @ a.T)
        result.append(np.sqrt(total))
    return np.array(result)


@settings(max_examples=50, deadline=None)
@given(st.integers(3, 9), st.integers(0, 2**32 - 1))
def test_anisotropic_closed_form_equals_the_per_fiducial_sum(n, seed):
    """Random fiducials, random positive semi-definite covariances (some of rank 1), targets
    near and far: the quadratic in the target equals the textbook sum to 1e-9."""
    rng = np.random.default_rng(seed)
    fiducials = rng.normal(0.0, 40.0, (n, 3)) + rng.normal(0.0, 100.0, 3)
    factors = rng.normal(0.0, 0.5, (n, 3, rng.integers(1, 4)))
    covariances = factors @ np.swapaxes(factors, 1, 2)
    targets = fiducials.mean(axis=0) + rng.normal(0.0, 150.0, (7, 3))
    np.testing.assert_allclose(
        predict_tre_rms_anisotropic(fiducials, covariances, targets),
        _textbook_anisotropic_tre(fiducials, covariances, targets),
        rtol=1e-9,
    )


def test_anisotropic_covariances_of_the_wrong_shape_are_rejected():
    with pytest.raises(RegistrationError, match=r"shape \(6, 3, 3\), one per fiducial"):
        predict_tre_rms_anisotropic(_compact_layout(), np.zeros((5, 3, 3)), np.zeros((1, 3)))


def test_anisotropic_covariances_that_are_not_symmetric_are_rejected():
    covariances = np.tile(np.eye(3), (6, 1, 1))
    covariances[2, 0, 1] = 0.5
    with pytest.raises(RegistrationError, match="symmetric"):
        predict_tre_rms_anisotropic(_compact_layout(), covariances, np.zeros((1, 3)))


def test_anisotropic_covariances_with_a_negative_variance_are_rejected():
    covariances = np.tile(np.eye(3), (6, 1, 1))
    covariances[3] = np.diag([1.0, -0.5, 1.0])
    with pytest.raises(RegistrationError, match="negative variance"):
        predict_tre_rms_anisotropic(_compact_layout(), covariances, np.zeros((1, 3)))


def test_anisotropic_covariances_with_nan_are_rejected():
    covariances = np.full((6, 3, 3), np.nan)
    with pytest.raises(RegistrationError, match="NaN"):
        predict_tre_rms_anisotropic(_compact_layout(), covariances, np.zeros((1, 3)))


def test_anisotropic_prediction_rejects_collinear_fiducials():
    line = np.outer(np.arange(4.0), [1.0, 1.0, 0.0])
    with pytest.raises(RegistrationError, match="collinear"):
        predict_tre_rms_anisotropic(line, np.tile(np.eye(3), (4, 1, 1)), np.zeros((1, 3)))


def test_elongated_layout_is_worst_across_the_bar():
    """Targets off the long axis are further from the rotation's best-determined direction."""
    fiducials = _elongated_layout()
    centre = fiducials.mean(axis=0)
    along = centre + TILT @ [100.0, 0, 0]
    across = centre + TILT @ [0, 100.0, 0]
    tre_along, tre_across = predict_tre_rms(fiducials, 1.0, np.array([along, across]))
    assert tre_across > 2.0 * tre_along


def test_tre_at_the_centroid_is_fle_over_root_n():
    fiducials = _compact_layout()
    tre = predict_tre_rms(fiducials, 0.8, fiducials.mean(axis=0)[None])
    assert tre[0] == pytest.approx(0.8 / np.sqrt(len(fiducials)), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-3.0, 3.0), min_size=3, max_size=3),
    st.lists(st.floats(-200.0, 200.0), min_size=3, max_size=3),
)
def test_prediction_is_invariant_under_rigid_motion_of_the_whole_setup(rotvec, translation):
    """Rows-for-columns eigenvector mistakes break this invariance."""
    motion = make_rigid(Rotation.from_rotvec(rotvec).as_matrix(), translation)
    fiducials = _elongated_layout()
    targets = _targets(fiducials)
    before = predict_tre_rms(fiducials, 0.4, targets)
    after = predict_tre_rms(
        apply_transform(motion, fiducials), 0.4, apply_transform(motion, targets)
    )
    np.testing.assert_allclose(after, before, rtol=1e-9)


def test_tre_scales_linearly_with_fle():
    fiducials = _compact_layout()
    targets = _targets(fiducials)
    np.testing.assert_allclose(
        predict_tre_rms(fiducials, 1.5, targets), 3.0 * predict_tre_rms(fiducials, 0.5, targets)
    )


def test_expected_fre_known_value():
    assert expected_fre_rms(4, 1.0) == pytest.approx(np.sqrt(0.5))


def test_collinear_fiducials_are_rejected():
    line = np.outer(np.arange(4.0), [1.0, 1.0, 0.0])
    with pytest.raises(RegistrationError, match="collinear"):
        predict_tre_rms(line, 0.5, np.zeros((1, 3)))


def test_too_few_fiducials_are_rejected():
    with pytest.raises(RegistrationError, match="at least 3"):
        predict_tre_rms(np.eye(3)[:2], 0.5, np.zeros((1, 3)))


def test_negative_fle_is_rejected():
    with pytest.raises(RegistrationError, match=r"fle_rms_mm must be .* got -0.1"):
        predict_tre_rms(_compact_layout(), -0.1, np.zeros((1, 3)))


def test_nan_target_is_rejected():
    with pytest.raises(RegistrationError, match="targets_mm contains NaN"):
        predict_tre_rms(_compact_layout(), 0.5, np.full((1, 3), np.nan))


def test_expected_fre_needs_three_fiducials():
    with pytest.raises(RegistrationError, match="n_fiducials must be an integer >= 3; got 2"):
        expected_fre_rms(2, 0.5)


def test_expected_fre_rejects_nan_fle():
    with pytest.raises(RegistrationError, match="fle_rms_mm"):
        expected_fre_rms(5, float("nan"))


@pytest.mark.parametrize("false_alarm", [0.05, 0.5])
def test_fre_check_limit_is_exceeded_as_often_as_it_says(false_alarm):
    """Gaussian FLE: the FRE exceeds ``limit_mm`` in a ``false_alarm`` share of registrations
    (6,000 trials: the binomial standard deviation of the share is at most 0.0065)."""
    fiducials = _compact_layout()
    rng = np.random.default_rng(7)
    sigma = FLE_RMS_MM / np.sqrt(3.0)
    fre = np.array(
        [
            register_paired_points(
                fiducials, fiducials + rng.normal(0.0, sigma, fiducials.shape)
            ).fre_rms_mm
            for _ in range(TRIALS)
        ]
    )
    limit = FreCheck(FLE_RMS_MM, false_alarm).limit_mm(len(fiducials))
    assert np.mean(fre > limit) == pytest.approx(false_alarm, abs=0.02)


def test_fre_check_refuses_meaningless_settings():
    with pytest.raises(RegistrationError):
        FreCheck(fle_rms_mm=-1.0)
    with pytest.raises(RegistrationError):
        FreCheck(false_alarm=1.0)
    with pytest.raises(RegistrationError):
        FreCheck().limit_mm(2)
