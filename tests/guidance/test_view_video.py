"""The video writer on its own: real encoders (ffmpeg's H.264, Pillow's GIF), and clear errors."""

import imageio.v2 as imageio
import numpy as np
import pytest

from guidance.exceptions import GuidanceError
from guidance.views import VideoWriter


def _frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Frames with a white square moving right by 8 pixels each."""
    frames = []
    for i in range(count):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[16:32, 8 * i : 8 * i + 16] = 255
        frames.append(frame)
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_frames_come_back_in_order(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    with VideoWriter(path, fps=5.0) as video:
        for frame in _frames(5):
            video.add(frame)
    assert video.frame_count == 5
    read = [np.asarray(frame)[..., :3] for frame in imageio.get_reader(path)]
    assert len(read) == 5
    for i, frame in enumerate(read):
        bright = np.nonzero(frame[24, :, 0] > 128)[0]
        assert abs(bright.mean() - (8 * i + 7.5)) < 1.5  # the square where it was drawn


def test_the_mp4_plays_at_the_given_rate(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=8.0) as video:
        for frame in _frames(4):
            video.add(frame)
    reader = imageio.get_reader(path)
    assert reader.get_meta_data()["fps"] == pytest.approx(8.0)
    reader.close()


def test_an_unknown_format_is_refused_with_the_ones_we_write(tmp_path):
    with pytest.raises(GuidanceError, match=r"cannot write \.avi; use one of \.mp4, \.gif"):
        VideoWriter(tmp_path / "clip.avi", fps=10.0)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(GuidanceError, match="does not exist"):
        VideoWriter(tmp_path / "nowhere" / "clip.gif", fps=10.0)


def test_a_frame_of_another_size_is_refused(tmp_path):
    with VideoWriter(tmp_path / "clip.gif", fps=10.0) as video:
        video.add(_frames(1)[0])
        with pytest.raises(GuidanceError, match="frame 2 is 32 x 48 pixels, the first was 64 x 48"):
            video.add(np.zeros((48, 32, 3), np.uint8))


def test_a_frame_that_is_not_a_picture_is_refused(tmp_path):
    with VideoWriter(tmp_path / "clip.gif", fps=10.0) as video:
        with pytest.raises(GuidanceError, match=r"\(H, W, 3\) uint8"):
            video.add(np.zeros((48, 64), np.float64))
        video.add(_frames(1)[0])
