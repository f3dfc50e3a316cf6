"""Reading processes from /proc for footprint tests and benchmarks: a process tree, and
what each process holds (RSS, and PSS so pages shared between processes count once)."""

from __future__ import annotations

from pathlib import Path


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (WebKit's helpers are children of the window)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def mem_mb(pid: int) -> tuple[str, float, float]:
    """(command name, RSS MB, PSS MB) from /proc/PID/smaps_rollup."""
    name = Path(f"/proc/{pid}/comm").read_text().strip()
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss"):
            fields[key] = float(value.split()[0]) / 1024
    return name, fields.get("Rss", 0.0), fields.get("Pss", 0.0)


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
