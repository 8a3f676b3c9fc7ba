"""report.html in a real headless Chromium: it loads with no console or script error, asks for
nothing outside itself, and every image decodes. A negative control shows the check would see
an outside request and a broken image."""

import io

from matplotlib import image as mpimg

from guidance.reports.exercise_report import write_report_page
from tests.browser import check_page
from tests.guidance.reports.conftest import sample_report


def test_the_report_loads_cleanly_and_its_images_render(skull, report_folder):
    path = write_report_page(sample_report(skull), report_folder, skull.ct)
    check = check_page(path)
    assert check.console_errors == ()
    assert check.script_errors == ()
    assert check.outside_requests == ()
    assert check.title == "gestes exercise: fiducials"
    assert len(check.images) == 3
    for alt, width, height in check.images:
        assert width > 300 and height > 200, alt
    screenshot = mpimg.imread(io.BytesIO(check.screenshot_png), format="png")
    assert screenshot.shape[0] > 2000  # the whole page: score, bars, map, snapshot, tables
    (report_folder / "report-screenshot.png").write_bytes(check.screenshot_png)


def test_the_check_sees_an_outside_request_and_a_broken_image(skull, report_folder):
    path = write_report_page(sample_report(skull), report_folder)
    html = path.read_text(encoding="utf-8")
    broken = html.replace(
        "<h1>",
        '<img alt="outside" src="http://example.invalid/x.png">'
        '<img alt="broken" src="data:image/png;base64,AAAA"><h1>',
        1,
    )
    path.write_text(broken, encoding="utf-8")
    check = check_page(path)
    assert any("Content Security Policy" in error for error in check.console_errors)
    sizes = {alt: (width, height) for alt, width, height in check.images}
    assert sizes["outside"] == (0, 0)
    assert sizes["broken"] == (0, 0)
