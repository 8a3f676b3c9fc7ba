"""Open a page of ours in a real headless Chromium (Debian's, driven by Playwright) and report what
a reader would meet: console errors, script errors, requests that left the file, images that did
not decode, and a screenshot.

Chromium is a system package (`apt-get install chromium`; `.ci/run` installs it). Without it the
browser tests skip, naming that command, except where ``GESTES_REQUIRE_BROWSER=1`` (CI) makes
its absence a failure.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# Flags known to work on these machines: no sandbox as root, no GPU, and none of Chromium's own
# background connections (refused here, and each one logs an error).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Bounds on Chromium's start and on each page action (Playwright's default is 30 s): they only
# turn a hang into a failure, and a loaded CI machine starts a browser slowly.
LOAD_TIMEOUT_MS = 60_000


def chromium_path() -> str:
    """The Chromium executable; skips the test (fails in CI) when there is none."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "no Chromium on this machine: apt-get install -y chromium"
        if os.environ.get("GESTES_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass(frozen=True)
class PageCheck:
    """What the browser saw: console messages of type error, uncaught script errors, URLs
    requested that are not the page itself nor ``data:``, each image's (alt, natural width,
    natural height), the page title and a full-page PNG screenshot."""

    console_errors: tuple[str, ...]
    script_errors: tuple[str, ...]
    outside_requests: tuple[str, ...]
    images: tuple[tuple[str, int, int], ...]
    title: str
    screenshot_png: bytes


def check_page(path: Path, width_px: int = 1280) -> PageCheck:
    """Load ``path`` (an HTML file) in headless Chromium and collect a ``PageCheck``."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    page_url = Path(path).resolve().as_uri()
    console_errors: list[str] = []
    script_errors: list[str] = []
    outside: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gestes-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": width_px, "height": 900},
            timeout=LOAD_TIMEOUT_MS,
        )
        context.set_default_timeout(LOAD_TIMEOUT_MS)
        try:
            page = context.new_page()
            page.on(
                "console",
                lambda message: (
                    console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            page.on(
                "request",
                lambda request: (
                    outside.append(request.url)
                    if request.url != page_url and not request.url.startswith("data:")
                    else None
                ),
            )
            page.goto(page_url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
            images = page.evaluate(
                "() => Array.from(document.images).map("
                "image => [image.alt, image.naturalWidth, image.naturalHeight])"
            )
            title = page.title()
            screenshot = page.screenshot(full_page=True)
        finally:
            context.close()
    return PageCheck(
        console_errors=tuple(console_errors),
        script_errors=tuple(script_errors),
        outside_requests=tuple(outside),
        images=tuple((alt, int(w), int(h)) for alt, w, h in images),
        title=title,
        screenshot_png=screenshot,
    )
