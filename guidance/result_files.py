"""Reading back the JSON results gestes commands print (``gestes pivot``, ``gestes register``), so
that one command's output is another's input, with one message when a file is not what it should
be."""

import json
from pathlib import Path

from guidance.exceptions import GuidanceError


def read_result(path: Path | str, key: str, what: str, producer: str) -> dict:
    """The JSON object in ``path`` that must hold ``key``: ``what`` names the result (``a pivot
    result``) and ``producer`` the command that writes it (``gestes pivot``) for the message."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GuidanceError(f"{path}: cannot read {what} ({error})") from None
    if not isinstance(document, dict) or key not in document:
        raise GuidanceError(
            f"{path}: not {what}: expected the JSON that {producer} prints (with {key})"
        )
    return document
