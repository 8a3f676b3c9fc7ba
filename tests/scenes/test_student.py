"""The simulated student: rigid, continuous motion; the tip rests where each event says; placement
error, tremor, overshoot and hesitation as the hand settings say; skills that differ; no
accidental dwell a capture could mistake for a touch."""

import math

import numpy as np
import pytest

from registration.digitize import StillnessSettings, find_still_periods
from registration.transforms import as_rigid, make_rigid
from scenes.exceptions import SceneError
from scenes.motions import StylusGeometry, Touch
from scenes.student import (
    SKILLS,
    HandSettings,
    Phase,
    Skill,
    StudentScript,
    Tremor,
)

CENTRE = np.array([0.0, 0.0, -1400.0])
RADIUS_MM = 90.0
STYLUS = StylusGeometry(
    tip_mm=np.array([0.0, 0.0, -150.0]),
    shaft_axis=np.array([0.0, 0.0, 1.0]),
    facing_axis=np.array([1.0, 0.0, 0.0]),
)
TOP = CENTRE + np.array([0.0, RADIUS_MM, 0.0])
DEEP = CENTRE + np.array([0.0, 20.0, 0.0])
REFERENCE = make_rigid(np.eye(3), CENTRE + np.array([120.0, 0.0, 60.0]))
RATE_HZ = 60.0
DIRECTIONS = np.array(
    [[1, 1, 0], [-1, 1, 0], [0, 1, 1], [0, 1, -1], [0.5, 1, 0.5], [-0.5, 1, -0.5]], float
)
DIRECTIONS /= np.linalg.norm(DIRECTIONS, axis=1, keepdims=True)


def _touches():
    return [Touch(f"F{i}", CENTRE + RADIUS_MM * d, d) for i, d in enumerate(DIRECTIONS)]


def _script(skill=Skill.EXPERT, seed=0):
    return StudentScript(SKILLS[skill], STYLUS, CENTRE, TOP, [0.0, 1.0, 0.0], seed)


def _touching(skill=Skill.EXPERT, seed=0):
    script = _script(skill, seed)
    rests = [script.touch(touch) for touch in _touches()]
    return script.motion(REFERENCE), np.array(rests)


def _samples(motion):
    times = np.arange(0.0, motion.duration_s, 1.0 / RATE_HZ)
    tips = np.array([motion.tip_and_rotation(t)[0] for t in times])
    return times, tips


def test_poses_are_rigid_and_the_tip_is_where_the_pose_puts_it():
    motion, _ = _touching()
    for t in np.linspace(0.0, motion.duration_s, 97):
        poses = motion(t)
        as_rigid(poses["stylus"])
        np.testing.assert_array_equal(poses["reference"], REFERENCE)
        tip, _ = motion.tip_and_rotation(t)
        np.testing.assert_allclose(
            poses["stylus"][:3, :3] @ STYLUS.tip_mm + poses["stylus"][:3, 3], tip, atol=1e-9
        )


@pytest.mark.parametrize("skill", list(Skill))
def test_the_motion_is_continuous(skill):
    """1 ms apart, the tip never jumps more than 1 mm (a hand's peak speed is below 1 m/s) and the
    stylus never turns more than 0.5 degree."""
    script = _script(skill, seed=3)
    script.pivot("pivot", TOP, [0.0, 1.0, 0.0])
    for touch in _touches()[:3]:
        script.touch(touch)
    script.insert("T", TOP, DEEP)
    motion = script.motion(REFERENCE)
    times = np.arange(0.0, motion.duration_s, 1e-3)
    poses = [motion.tip_and_rotation(t) for t in times]
    tips = np.array([tip for tip, _ in poses])
    rotations = np.array([rotation for _, rotation in poses])
    assert np.max(np.linalg.norm(np.diff(tips, axis=0), axis=1)) < 1.0
    cosines = np.einsum("fij,fij->f", rotations[1:], rotations[:-1])
    angles = np.arccos(np.clip((cosines - 1.0) / 2.0, -1.0, 1.0))
    assert np.degrees(angles.max()) < 0.5


def test_the_tip_rests_where_each_touch_event_says_and_that_is_near_the_point():
    motion, rests = _touching()
    events = [event for event in motion.events if event.phase is Phase.DWELL]
    assert [event.label for event in events] == [f"F{i}" for i in range(len(DIRECTIONS))]
    for event, rest, touch in zip(events, rests, _touches(), strict=True):
        np.testing.assert_array_equal(event.tip_mm, rest)
        middle = np.linspace(event.start_s, event.end_s, 50)[10:-10]
        for t in middle:
            np.testing.assert_allclose(motion.tip_and_rotation(t)[0], rest, atol=1e-9)
        offset = rest - touch.point_mm
        assert abs(offset @ touch.approach) < 1e-9  # across the surface, not into it
        assert np.linalg.norm(offset) < 5.0 * SKILLS[Skill.EXPERT].placement_error_mm


@pytest.mark.parametrize("skill", list(Skill))
def test_placement_error_has_the_hand_rms(skill):
    """Over 40 scripts of 6 touches, the RMS distance of the resting tip from the point is the
    setting within 15 % (240 samples of a 2D Gaussian: ~5 % standard error)."""
    offsets = []
    for seed in range(40):
        _, rests = _touching(skill, seed)
        offsets.append(rests - np.array([t.point_mm for t in _touches()]))
    rms = math.sqrt(np.mean(np.sum(np.concatenate(offsets) ** 2, axis=1)))
    assert rms == pytest.approx(SKILLS[skill].placement_error_mm, rel=0.15)


def test_tremor_has_its_rms_and_its_power_in_the_band():
    rng = np.random.default_rng(0)
    tremor = Tremor.draw(0.2, (8.0, 12.0), rng)
    times = np.arange(0.0, 60.0, 1e-3)
    shake = np.array([tremor.displacement_mm(t) for t in times])
    rms = math.sqrt(np.mean(np.sum(shake**2, axis=1)))
    assert rms == pytest.approx(0.2, rel=0.1)
    spectrum = np.sum(np.abs(np.fft.rfft(shake, axis=0)) ** 2, axis=1)
    frequencies = np.fft.rfftfreq(len(times), 1e-3)
    in_band = spectrum[(frequencies >= 8.0) & (frequencies <= 12.0)].sum()
    assert in_band / spectrum.sum() > 0.99


def test_in_the_air_the_tip_trembles_with_the_hand_rms():
    """Over the travels, the tip differs from the scripted path by the tremor's RMS."""
    motion, _ = _touching(Skill.NOVICE, seed=1)
    travel = [s for s in motion.segments if s.phase is Phase.TRAVEL]
    times = np.concatenate([np.linspace(s.start_s, s.end_s, 30) for s in travel])
    shaken = np.array([motion.tip_and_rotation(t)[0] for t in times])
    smooth = []
    for t in times:
        segment = motion.segments[motion.segment_index(t)]
        smooth.append(segment.pose(np.array([t - segment.start_s]))[0][0])
    rms = math.sqrt(np.mean(np.sum((shaken - np.array(smooth)) ** 2, axis=1)))
    assert rms == pytest.approx(SKILLS[Skill.NOVICE].tremor_rms_mm, rel=0.25)


def test_a_pivot_keeps_the_tip_in_the_divot_and_turns_the_shaft_by_the_hand_cone():
    script = _script(Skill.EXPERT, seed=2)
    divot = TOP
    script.pivot("pivot", divot, [0.0, 1.0, 0.0])
    motion = script.motion(REFERENCE)
    (event,) = motion.events
    times = np.linspace(event.start_s, event.end_s, 400)[20:-20]
    poses = [motion.tip_and_rotation(t) for t in times]
    tips = np.array([tip for tip, _ in poses])
    np.testing.assert_allclose(tips, np.broadcast_to(divot, tips.shape), atol=1e-9)
    shafts = np.array([rotation @ STYLUS.shaft_axis for _, rotation in poses])
    tilts = np.degrees(np.arccos(np.clip(shafts @ [0.0, 1.0, 0.0], -1.0, 1.0)))
    cone = SKILLS[Skill.EXPERT].pivot_half_angle_deg
    assert tilts.max() == pytest.approx(cone * 1.15, rel=0.1)
    assert np.median(tilts) == pytest.approx(cone, rel=0.2)


def test_a_novice_slips_in_the_divot_and_an_expert_does_not():
    slipped = []
    for skill in Skill:
        script = _script(skill, seed=5)
        divot = TOP
        script.pivot("pivot", divot, [0.0, 1.0, 0.0])
        motion = script.motion(REFERENCE)
        (event,) = motion.events
        times = np.linspace(event.start_s + 0.2, event.end_s - 0.2, 2000)
        tips = np.array([motion.tip_and_rotation(t)[0] for t in times])
        slipped.append(np.max(np.linalg.norm(tips - divot, axis=1)))
    expert, novice = slipped
    assert expert < 1e-6 and novice > 0.5


def test_each_reach_overshoots_its_goal_then_comes_back():
    """The travel just before each approach is the correction: it starts beyond the hover point
    (farther from where the reach began) by the hand's overshoot, capped."""
    hand = SKILLS[Skill.NOVICE]
    motion, _ = _touching(Skill.NOVICE, seed=4)
    segments = motion.segments
    for k, segment in enumerate(segments):
        if segment.phase is not Phase.APPROACH or segments[k - 1].phase is not Phase.TRAVEL:
            continue
        correction = segments[k - 1]
        first = k - 1
        while first > 0 and segments[first - 1].phase is Phase.TRAVEL:
            first -= 1
        origin = segments[first].pose(np.zeros(1))[0][0]
        beyond = correction.pose(np.zeros(1))[0][0]
        goal = correction.pose(np.array([correction.end_s - correction.start_s]))[0][0]
        overshoot = np.linalg.norm(beyond - goal)
        assert 0.3 < overshoot <= hand.max_overshoot_mm + 1e-6
        assert np.linalg.norm(beyond - origin) > np.linalg.norm(goal - origin)


@pytest.mark.parametrize("skill", list(Skill))
def test_a_student_starting_above_the_first_point_does_not_linger_there(skill):
    """The exercises start the stylus above the first fiducial: the first reach has no length,
    and the first thing the stillness detector finds must be the first touch."""
    touches = _touches()
    script = StudentScript(
        SKILLS[skill], STYLUS, CENTRE, touches[0].point_mm, touches[0].approach, seed=1
    )
    rests = [script.touch(touch) for touch in touches]
    times, tips = _samples(script.motion(REFERENCE))
    periods = find_still_periods(times, tips, StillnessSettings(0.3, 1.0))
    assert len(periods) == len(rests)
    assert np.linalg.norm(periods[0].point.point_mm - rests[0]) < 0.1


@pytest.mark.parametrize("skill", list(Skill))
def test_only_the_touches_are_still_long_enough_to_be_captured(skill):
    """The stillness detector of the fiducial exercise, run on the true tip (plus 0.1 mm of
    tracker-like noise), finds exactly one dwell per touch, in order: hesitations and the end of
    the script are not mistaken for a touch."""
    for seed in range(5):
        motion, rests = _touching(skill, seed)
        times, tips = _samples(motion)
        tips = tips + np.random.default_rng(seed).normal(0.0, 0.1 / math.sqrt(3.0), tips.shape)
        periods = find_still_periods(times, tips, StillnessSettings(0.3, 1.0))
        assert len(periods) == len(rests)
        for period, rest in zip(periods, rests, strict=True):
            assert np.linalg.norm(period.point.point_mm - rest) < 0.1


def test_a_novice_takes_longer_than_an_expert():
    durations = {
        skill: np.mean([_touching(skill, seed)[0].duration_s for seed in range(5)])
        for skill in Skill
    }
    assert durations[Skill.NOVICE] > 1.2 * durations[Skill.EXPERT]


def test_insertion_stops_near_the_target_by_the_hand_errors():
    errors = {}
    for skill in Skill:
        distances = []
        for seed in range(30):
            script = _script(skill, seed)
            end = script.insert("T", TOP, DEEP)
            distances.append(np.linalg.norm(end - DEEP))
        errors[skill] = math.sqrt(np.mean(np.square(distances)))
    assert errors[Skill.EXPERT] < 1.5 < errors[Skill.NOVICE]


def test_a_student_steering_by_a_calibrated_tip_brings_that_tip_to_the_target():
    """A navigator's tip 2.3 mm off the true one: the same hand (same draws) puts the sighted
    tip where it would have put the true one, so the true tip ends off by that offset."""
    offset = np.array([1.0, -0.5, 2.0])  # stylus frame, mm
    plain = _script(Skill.NOVICE, 4).insert("T", TOP, DEEP)
    script = _script(Skill.NOVICE, 4)
    end = script.insert("T", TOP, DEEP, STYLUS.tip_mm + offset)
    event = script.motion(REFERENCE).events[-1]
    tip, rotation = script.motion(REFERENCE).tip_and_rotation(event.start_s)
    assert np.linalg.norm(tip - end) < 0.5  # the dwell starts where the insertion ended
    assert np.linalg.norm(end + rotation @ offset - plain) < 0.1
    assert np.linalg.norm(end - plain) == pytest.approx(np.linalg.norm(offset), abs=1e-9)


def test_hand_settings_refuse_negative_and_inverted_values():
    expert = SKILLS[Skill.EXPERT]
    with pytest.raises(SceneError, match="tremor_rms_mm must be finite and >= 0"):
        HandSettings(**{**vars(expert), "tremor_rms_mm": -0.1})
    with pytest.raises(SceneError, match="hesitation_s must be"):
        HandSettings(**{**vars(expert), "hesitation_s": (0.5, 0.2)})
    with pytest.raises(SceneError, match="pivot_half_angle_deg"):
        HandSettings(**{**vars(expert), "pivot_half_angle_deg": 0.0})


def test_the_same_seed_gives_the_same_motion_and_another_seed_another():
    a, _ = _touching(seed=7)
    b, _ = _touching(seed=7)
    c, _ = _touching(seed=8)
    for t in (0.5, 3.0, 7.5):
        np.testing.assert_array_equal(a(t)["stylus"], b(t)["stylus"])
    assert not np.allclose(a(3.0)["stylus"], c(3.0)["stylus"])


def test_sampling_many_times_at_once_gives_the_poses_of_each_time():
    """``sample`` (what the simulated tracker calls, a block of times at once) agrees with the
    motion asked one time at a time, over every kind of segment (pivot, touches, sweep,
    insertion), in any order of times and beyond both ends of the script."""
    script = _script(Skill.NOVICE, seed=4)
    script.pivot("divot", DEEP + np.array([0.0, 60.0, 0.0]), [0.0, 1.0, 0.0])
    script.touch(_touches()[0])
    sweep = CENTRE + RADIUS_MM * DIRECTIONS[:3]
    script.sweep("sweep", sweep, DIRECTIONS[:3])
    script.insert("needle", TOP, DEEP)
    motion = script.motion(REFERENCE)
    times = np.random.default_rng(0).uniform(-1.0, motion.duration_s + 1.0, 700)
    poses = motion.sample(times)
    assert {segment.phase for segment in motion.segments} >= {Phase.PIVOT, Phase.SWEEP}
    for k, t in enumerate(times):
        one = motion(t)
        for name in ("stylus", "reference"):
            # Elementwise maths on K times or on one: equal to the last digits.
            np.testing.assert_allclose(poses[name][k], one[name], rtol=0.0, atol=1e-12)
