"""One line describing the machine a benchmark ran on (printed with every figure)."""

from __future__ import annotations

import os
import platform
import sqlite3


def describe() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
            f"SQLite {sqlite3.sqlite_version}; {platform.system()} {platform.release()}")


def percentiles(samples_ms: list[float]) -> tuple[float, float]:
    s = sorted(samples_ms)
    return s[len(s) // 2], s[min(len(s) - 1, int(len(s) * 0.99))]
