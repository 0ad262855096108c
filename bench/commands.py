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


class Running:
    """``manage.py <argv>`` started in its own process group, its output in ``out_dir``."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], out_dir: Path, *, nice: int = 0
    ):
        self.name = name
        self.stdout_path = out_dir / f"{name}.stdout.txt"
        self.stderr_path = out_dir / f"{name}.stderr.txt"
        with self.stdout_path.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                # ``nice`` execs the command: the process keeps its pid (and group).
                [*(["nice", "-n", str(nice)] if nice else []), sys.executable, "manage.py", *argv],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        self.seconds: float | None = None

    def poll(self) -> bool:
        """True once the command has ended (its time is then taken)."""
        if self.proc.poll() is None:
            return False
        if self.seconds is None:
            self.seconds = time.perf_counter() - self.started
        return True

    def kill(self) -> None:
        """End the command's process group (when it still runs) and reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def result(self) -> CommandRun:
        """What it did, once it has ended: time, exit status, last line out, stderr tail."""
        self.poll()
        out_lines = self.stdout_path.read_text(errors="replace").splitlines()
        err_lines = self.stderr_path.read_text(errors="replace").splitlines()
        summary = next((line for line in reversed(out_lines) if line.strip()), "")
        tail = "\n".join(line for line in err_lines[-5:])
        return CommandRun(self.name, self.seconds, self.proc.returncode, summary, tail)


def run_command(
    name: str, argv: list[str], env: dict[str, str], out_dir: Path, timeout: float
) -> CommandRun:
    """``manage.py <argv>`` timed; killed (its process group) when it overruns or on Ctrl-C."""
    running = Running(name, argv, env, out_dir)
    try:
        running.proc.wait(timeout=timeout)
    except BaseException:  # timeout, Ctrl-C: end what we started
        running.kill()
        if not isinstance(sys.exc_info()[1], subprocess.TimeoutExpired):
            raise
        return CommandRun(name, None, None, f"killed after {timeout:.0f}s (timeout)")
    return running.result()


def write_csv(path: Path, columns: Sequence[str], rows) -> int:
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
