"""Scale presets: how many records each table of a generated instance holds, for every service alike.

An instance spec names a preset (``tiny``, ``small``, ``medium``, ``large``) and may override single
tables' counts. The presets mean the same across services, so tests and benchmarks can ask for "a
small tenant" of any of them: ``tiny`` for unit tests, ``small`` the demo default, ``medium`` five
times ``small`` and ``large`` twelve and a half times (``grown``), except where a service pins a
table that does not grow with the tenant (an MSP's staff, its service boards).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

Counts = dict[str, int]

MEDIUM_FACTOR = 5
LARGE_FACTOR = 12.5


def grown(
    tiny: Mapping[str, int],
    small: Mapping[str, int],
    medium: Mapping[str, int] | None = None,
    large: Mapping[str, int] | None = None,
) -> dict[str, Counts]:
    """The four presets, ``medium`` and ``large`` grown from ``small`` then set as given for pinned tables."""
    return {
        "tiny": dict(tiny),
        "small": dict(small),
        "medium": {k: v * MEDIUM_FACTOR for k, v in small.items()} | dict(medium or {}),
        "large": {k: int(v * LARGE_FACTOR) for k, v in small.items()} | dict(large or {}),
    }


def scale_counts(
    presets: Mapping[str, Mapping[str, int]],
    scale: str,
    overrides: Mapping[str, int] | None,
    resolve: Callable[[str], str],
) -> Counts:
    """Counts for a preset with per-table overrides, keyed by the table ``resolve`` makes of each name.

    ValueError for an unknown preset or a count that is not an integer >= 0 (``True`` is not a count);
    ``resolve`` raises for unknown tables (KeyError) or tables that have no count (ValueError).
    """
    if scale not in presets:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(presets)}")
    counts = dict(presets[scale])
    for name, count in (overrides or {}).items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"count for {name} must be an integer >= 0, got {count!r}")
        counts[resolve(name)] = count
    return counts
