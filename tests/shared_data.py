"""Where the real third-party test files are: ``../shared/data`` beside the repository (read-only).

Tests that use them skip, naming this folder, when it is absent.
"""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
