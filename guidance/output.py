"""The output folder of a run: created if needed and checked writable before anything starts, so
that no exercise or navigation session runs for minutes only to fail when writing its files."""

from pathlib import Path

from guidance.exceptions import OutputFolderError


def prepare_output_folder(path: Path) -> Path:
    """Create ``path`` if needed and check a file can be written in it; OutputFolderError if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".gestes-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputFolderError(f"cannot write to the output folder {path}: {reason}") from error
    return path
