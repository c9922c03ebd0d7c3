"""Resident memory of this process, without psutil (a Pi may not have it).

Linux: /proc/self/status (VmRSS now, VmHWM = peak), and the peak can be reset by writing "5" to
/proc/self/clear_refs, so a peak measured after the reset belongs to what ran after it.
Elsewhere: resource.getrusage's ru_maxrss (KiB on Linux, bytes on macOS), which cannot be reset.
"""

from __future__ import annotations

import sys
from typing import Optional

_STATUS = "/proc/self/status"


def _status_kib(field: str) -> Optional[int]:
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> Optional[int]:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> Optional[int]:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def reset_peak() -> bool:
    """Make the next peak reading start from the current RSS (Linux >= 4.0); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRss:
    """``with PeakRss() as m: ...`` -> ``m.increase``: peak RSS during the block minus RSS before it."""

    def __init__(self) -> None:
        self.increase: Optional[int] = None
        self.method = "VmHWM (reset via clear_refs)"

    def __enter__(self) -> "PeakRss":
        if not reset_peak():
            self.method = "process peak (VmHWM or ru_maxrss), could not be reset: includes earlier peaks"
        self._before = rss_bytes() if rss_bytes() is not None else peak_rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        peak = peak_rss_bytes()
        if peak is not None and self._before is not None:
            self.increase = max(0, peak - self._before)
