"""Installed package versions, for the provenance recorded in config.json and sidecars."""

from __future__ import annotations

from typing import Optional

# One import name, several distributions: tensorflow-cpu installs the same `tensorflow` module.
_ALIASES = {"tensorflow": ("tensorflow", "tensorflow-cpu")}


def dist_version(name: str) -> Optional[str]:
    """Version of the installed distribution ``name`` (or one of its aliases); None if absent."""
    import importlib.metadata as md

    for dist in _ALIASES.get(name, (name,)):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return None
