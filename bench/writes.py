"""The writes measured: ``POST /lead_care_managers/bulk_assign`` of 1,000 items over HTTP,
and the ``import_members`` and ``bulk_assign_lcms`` commands on generated CSV files.

Each starts with a ``CHECKPOINT`` (when the role may run one), so that flushing the pages the
previous step dirtied does not land inside the next measurement. The caller snapshots the data
set first and puts it back afterwards (``bench.restore``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import replay, restore, workload
from bench.commands import CommandRun, available_commands, run_command, write_csv
from bench.database import checkpoint
from bench.driver import one_request
from bench.results import WriteResult
from bench.workload import API, WRITE_TARGET_S, Request, fmt_ms, log


def bulk_assign_bodies(
    seed: int, patients: int, lcm_ids: Sequence[int], provider_ids: Sequence[int], count: int
) -> list[dict]:
    """``count`` request bodies of up to 1,000 distinct patients among ``1 .. patients``."""
    rng = random.Random(seed)
    pool = list(range(1, patients + 1))
    return [
        workload.bulk_assign_body(
            rng,
            patient_ids=pool,
            lcm_ids=lcm_ids,
            provider_ids=provider_ids,
            size=min(1000, len(pool)),
        )
        for _ in range(count)
    ]


class WriteMeasurement:
    """Times the writes of one run against the server on ``port`` and the bench database."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        url: str,
        out: Path,
        env: dict[str, str],
        token: str,
        port: int,
        patients: int,
        wanted: Callable[[str], bool],
    ):
        self.args = args
        self.url = url
        self.out = out
        self.env = env
        self.token = token
        self.port = port
        self.patients = patients  # the data set's: ids 1 .. patients
        self.wanted = wanted

    def measure(
        self, bulk_bodies: list[dict], lcm_ids: list[int], provider_ids: list[int]
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        if self.wanted("bulk_assign"):
            self._checkpoint()
            results.append(self._bulk_assign(bulk_bodies))
        commands = available_commands(self.env)
        if self.wanted("import_members"):
            self._checkpoint()
            results += self._import_members(commands)
        if self.wanted("bulk_assign_lcms"):
            self._checkpoint()
            results.append(self._bulk_assign_lcms(commands, lcm_ids, provider_ids))
        return results

    def _checkpoint(self) -> None:
        """Each write starts with the earlier work's dirty pages flushed (see README)."""
        if not checkpoint(self.url):
            log("CHECKPOINT not allowed for this role: writes may include earlier flushes")

    def _bulk_assign(self, bodies: list[dict]) -> WriteResult:
        size = len(bodies[0]["assignments"]) if bodies else 0
        result = WriteResult(
            "bulk_assign",
            f"POST /lead_care_managers/bulk_assign ({size:,} items)",
            target_s=WRITE_TARGET_S["bulk_assign"],
        )
        path = f"{API}/lead_care_managers/bulk_assign"
        log("bulk_assign: capturing the SQL of one request in-process ...")
        _, captured_routes = replay.capture(
            [
                {
                    "name": "bulk_assign",
                    "write": True,
                    "variants": [asdict(Request("POST", path, bodies[0]))],
                }
            ],
            "bulk_assign",
            token=self.token,
            env=self.env,
            out=self.out,
        )
        captured = captured_routes["bulk_assign"][0]
        if captured["status"] == 404:
            result.status = "route missing (404)"
            return result
        result.queries = len(captured["sql"])
        result.note = f"in-process (Django test client) run: {captured['ms'] / 1000:.2f}s"
        bodies = bodies[1:]
        log(f"bulk_assign: {len(bodies)} sequential requests of {size:,} items over HTTP ...")
        for body in bodies:
            request = Request("POST", f"{API}/lead_care_managers/bulk_assign", body)
            status, seconds, data = one_request(self.port, self.token, request)
            if status == 404:
                result.status = "route missing (404)"
                return result
            run: dict[str, Any] = {"seconds": seconds, "status": status, "ok": status == 200}
            with contextlib.suppress(ValueError, AttributeError):
                answer = json.loads(data)
                run["successful_count"] = answer.get("successful_count")
                run["failed_count"] = answer.get("failed_count")
                if answer.get("failed_count"):
                    run["ok"] = False
                    failed = [r for r in answer.get("results", []) if r.get("status") != "success"]
                    run["first_failure"] = failed[0] if failed else None
            result.runs.append(run)
            log(f"  {seconds:.3f}s status {status} successful {run.get('successful_count')}")
        return result

    def _import_members(self, commands: set[str]) -> list[WriteResult]:
        rows = self.args.import_rows
        results = [
            WriteResult(
                "import_members_create",
                f"manage.py import_members ({rows:,} new members)",
                target_s=WRITE_TARGET_S["import_members_create"],
            ),
            WriteResult(
                "import_members_rerun",
                f"manage.py import_members (same {rows:,} rows again: no change)",
                target_s=WRITE_TARGET_S["import_members_rerun"],
            ),
        ]
        if "import_members" not in commands:
            for result in results:
                result.status = "command missing"
            return results
        removed = restore.remove_imported_members(self.url)
        if removed:
            log(f"removed {removed:,} members left by an earlier import run")
        path = self.out / "import_members.csv"
        count = write_csv(
            path, workload.IMPORT_MEMBER_COLUMNS, workload.import_member_rows(rows, self.args.seed)
        )
        for result in results:
            log(f"{result.label} ...")
            run = run_command(
                result.name, ["import_members", str(path)], self.env, self.out,
                self.args.command_timeout,
            )  # fmt: skip
            result.runs.append(_command_run(run))
            log(f"  {fmt_ms(run.seconds, 2)}s exit {run.returncode}: {run.summary}")
        results[0].note = f"{count:,} rows, {path.stat().st_size / 1e6:.1f} MB"
        return results

    def _bulk_assign_lcms(
        self, commands: set[str], lcm_ids: list[int], provider_ids: list[int]
    ) -> WriteResult:
        rows = self.args.assign_rows
        result = WriteResult(
            "bulk_assign_lcms",
            f"manage.py bulk_assign_lcms ({rows:,} rows)",
            target_s=WRITE_TARGET_S["bulk_assign_lcms"],
        )
        if "bulk_assign_lcms" not in commands:
            result.status = "command missing"
            return result
        path = self.out / "bulk_assign_lcms.csv"
        write_csv(
            path,
            workload.BULK_ASSIGN_COLUMNS,
            workload.bulk_assign_rows(
                rows,
                self.args.seed,
                patient_ids=range(1, self.patients + 1),
                lcm_ids=lcm_ids,
                provider_ids=provider_ids,
            ),
        )
        results_path = self.out / "bulk_assign_lcms.results.csv"
        log(f"{result.label} ...")
        run = run_command(
            result.name,
            ["bulk_assign_lcms", str(path), "--reason", "bench", "--results", str(results_path)],
            self.env, self.out, self.args.command_timeout,
        )  # fmt: skip
        result.runs.append(_command_run(run))
        log(f"  {fmt_ms(run.seconds, 2)}s exit {run.returncode}: {run.summary}")
        return result


def _command_run(run: CommandRun) -> dict[str, Any]:
    return {
        "seconds": run.seconds,
        "returncode": run.returncode,
        "ok": run.returncode == 0,
        "summary": run.summary,
        "stderr_tail": run.stderr_tail,
    }
