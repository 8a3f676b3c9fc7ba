"""Which numbers of a report.json have no sentence in ``guidance.reports.meanings`` (the exercise
tests call this on every exercise's real report)."""

from collections.abc import Mapping

from guidance.reports.meanings import TARGET_MEANINGS, meaning_of

# Target entries that are not numbers to explain.
TARGET_KEYS = frozenset({"label", "ct_mm"})


def unexplained(report: Mapping) -> list[str]:
    """The score fields and per-target columns of ``report`` that nobody has explained yet."""
    fields = {field for field in report["score"] if meaning_of(field) is None}
    fields |= {
        key
        for target in report.get("targets") or []
        for key in target
        if key not in TARGET_KEYS and meaning_of(key, TARGET_MEANINGS) is None
    }
    return sorted(fields)
