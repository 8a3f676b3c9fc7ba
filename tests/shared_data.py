"""Where the real third-party test files are: ``tests/data`` in the repository.

``tests/data/README.md`` gives each file's origin and licence; a fresh clone has them all, so no
test skips for want of data.
"""

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent / "data"
