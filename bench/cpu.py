"""Where the machine's CPU went during a measured window: the whole machine from
``/proc/stat`` (busy, and the time the host took, "steal"), and each process from
``/proc/<pid>/stat``, grouped by the caller (gunicorn, a command, PostgreSQL's backends ...).

Processes are read every quarter of a second, so a process that ends inside the window counts
up to its last reading. Linux only; elsewhere the figures are simply empty.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessTimes:
    comm: str  # the executable's name, e.g. "postgres", "python"
    pgid: int  # process group
    ticks: int  # user + system CPU time, in clock ticks


@dataclass(frozen=True)
class MachineTimes:
    busy: int  # user, nice, system, irq, softirq (clock ticks, all cores)
    steal: int  # taken by the host of a virtual machine
    total: int  # everything, idle and I/O wait included


def parse_process_stat(text: str) -> ProcessTimes:
    """A ``/proc/<pid>/stat`` line (the name, in parentheses, may hold spaces)."""
    close = text.rindex(")")
    comm = text[text.index("(") + 1 : close]
    fields = text[close + 2 :].split()  # fields[0] is field 3 (state)
    return ProcessTimes(comm, int(fields[2]), int(fields[11]) + int(fields[12]))


def parse_machine_stat(text: str) -> MachineTimes:
    """The ``cpu`` line of ``/proc/stat``: user nice system idle iowait irq softirq steal."""
    line = next(line for line in text.splitlines() if line.startswith("cpu "))
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, line.split()[1:9])
    busy = user + nice + system + irq + softirq
    return MachineTimes(busy, steal, busy + idle + iowait + steal)


def processes() -> dict[int, ProcessTimes]:
    """Every process readable now."""
    found = {}
    with contextlib.suppress(OSError):
        for entry in PROC.iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    found[int(entry.name)] = parse_process_stat((entry / "stat").read_text())
    return found


def machine() -> MachineTimes | None:
    try:
        return parse_machine_stat((PROC / "stat").read_text())
    except (OSError, StopIteration, ValueError):
        return None


def seconds_by_group(
    first: Mapping[int, ProcessTimes],
    last: Mapping[int, ProcessTimes],
    group: Callable[[int, ProcessTimes], str],
) -> dict[str, float]:
    """CPU seconds each group used between two readings (``last``: each process's latest
    reading, kept for those that have ended since); a process started in between counts from
    zero. Groups that used nothing are left out; largest first."""
    used: dict[str, float] = {}
    for pid, now in last.items():
        before = first.get(pid)
        start = before.ticks if before is not None and before.comm == now.comm else 0
        if now.ticks > start:
            name = group(pid, now)
            used[name] = used.get(name, 0.0) + (now.ticks - start) / CLOCK_TICKS
    return dict(sorted(used.items(), key=lambda item: -item[1]))


def machine_share(before: MachineTimes | None, after: MachineTimes | None) -> dict[str, float]:
    """The machine's busy and stolen shares (0..1 of all its cores) between two readings."""
    if before is None or after is None or after.total <= before.total:
        return {}
    total = after.total - before.total
    return {
        "busy": (after.busy - before.busy) / total,
        "steal": (after.steal - before.steal) / total,
    }


class CpuWindow:
    """The CPU of one window: ``start()``, ``sample()`` now and then, ``finish()``."""

    def __init__(self, group: Callable[[int, ProcessTimes], str]):
        self.group = group
        self.first: dict[int, ProcessTimes] = {}
        self.last: dict[int, ProcessTimes] = {}
        self.machine_before: MachineTimes | None = None

    def start(self) -> None:
        self.machine_before = machine()
        self.first = processes()
        self.last = dict(self.first)

    def sample(self) -> None:
        self.last.update(processes())

    def finish(self, wall_s: float) -> dict:
        self.sample()
        share = machine_share(self.machine_before, machine())
        cores = os.cpu_count() or 1
        return {
            "cores": cores,
            "busy_share": share.get("busy"),
            "steal_share": share.get("steal"),
            "by_group_cores": {
                name: seconds / wall_s
                for name, seconds in seconds_by_group(self.first, self.last, self.group).items()
            }
            if wall_s > 0
            else {},
        }
