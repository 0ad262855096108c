"""The app's management commands, run and timed as a user runs them, and their CSV inputs."""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.database import REPO_ROOT


@dataclass
class CommandRun:
    name: str
    seconds: float | None
    returncode: int | None
    summary: str
    stderr_tail: str = ""


def available_commands(env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


def run_command(
    name: str, argv: list[str], env: dict[str, str], out_dir: Path, timeout: float
) -> CommandRun:
    """``manage.py <argv>`` timed; killed (its process group) when it overruns or on Ctrl-C."""
    stdout_path = out_dir / f"{name}.stdout.txt"
    stderr_path = out_dir / f"{name}.stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "manage.py", *argv],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except BaseException:  # timeout, Ctrl-C: end what we started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
                raise
            return CommandRun(name, None, None, f"killed after {timeout:.0f}s (timeout)")
        seconds = time.perf_counter() - started
    out_lines = stdout_path.read_text(errors="replace").splitlines()
    err_lines = stderr_path.read_text(errors="replace").splitlines()
    summary = next((line for line in reversed(out_lines) if line.strip()), "")
    tail = "\n".join(line for line in err_lines[-5:])
    return CommandRun(name, seconds, returncode, summary, tail)


def write_csv(path: Path, columns: Sequence[str], rows) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
