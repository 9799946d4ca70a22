"""Resident memory of this process (Linux), shared by the monitoring workers.

``reset_peak()`` clears the kernel's high-water mark (``/proc/self/clear_refs``), so
``peak_mb()`` after some work is that work's peak, not the peak of loading the data.
Imports nothing beyond the standard library: it runs in every tool's venv.
"""

from __future__ import annotations

import re
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _field(name: str) -> float:
    match = re.search(rf"^{name}:\s+(\d+) kB", _STATUS.read_text(), re.M)
    if match is None:
        raise RuntimeError(f"no {name} in {_STATUS}")
    return int(match[1]) / 1024


def rss_mb() -> float:
    """Resident memory now, MiB."""
    return _field("VmRSS")


def peak_mb() -> float:
    """Highest resident memory since the last :func:`reset_peak`, MiB."""
    return _field("VmHWM")


def reset_peak() -> None:
    """Start measuring the peak from now (Linux 4.0+: writing 5 to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")
