"""The output of the commands that print a JSON report (``gestes pivot``, ``gestes register``)."""

import json
import sys
from typing import Any


def print_report(command: str, report: dict[str, Any]) -> None:
    """Print ``report`` as JSON on stdout, then each of its ``warnings`` on stderr prefixed with
    ``gestes COMMAND: warning:``: a script reads the JSON, a person sees the warnings."""
    print(json.dumps(report, indent=2))
    for warning in report["warnings"]:
        print(f"gestes {command}: warning: {warning}", file=sys.stderr)
