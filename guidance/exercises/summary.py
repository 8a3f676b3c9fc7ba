"""A run's report as a few lines for the terminal: what was run, each score number with its
name and unit (the names ``guidance.reports.meanings`` gives them), the warnings, the files."""

from collections.abc import Mapping
from typing import Any

from guidance.reports.meanings import column_title


def _value(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def summary(report: Mapping[str, Any], files: list[str]) -> str:
    """The terminal summary of ``report`` (a report.json dict) and the ``files`` written."""
    settings = report.get("settings", {})
    recording = report.get("recording", {})
    lines = [
        f"gestes exercise {report['exercise']}: {report['scene']['name']} "
        f"({settings.get('scene')}), {settings.get('skill')} student, seed "
        f"{settings.get('seed')}, tracker {settings.get('tracker')}; "
        f"{recording.get('n_frames', 0)} frames over {recording.get('duration_s', 0):.0f} s",
    ]
    simulated = [e["source"] for e in report.get("errors_simulated", []) if e["enabled"]]
    if report.get("errors_simulated"):
        lines.append(f"errors simulated: {', '.join(simulated) or 'none'}")
    lines.append("")
    score = report.get("score", {})
    width = max((len(column_title(field)) for field in score), default=0) + 2
    lines += [f"  {column_title(field):<{width}}{_value(v):>10}" for field, v in score.items()]
    if report.get("error"):
        lines += ["", f"not scored: {report['error']}"]
    lines += [f"warning: {warning}" for warning in report.get("warnings", [])]
    lines += ["", "written: " + ", ".join(files)]
    return "\n".join(lines)
