"""Care-team planning measured: ``POST /lead_care_managers/auto_assign`` applying 1,000
patients over HTTP, the ``plan_caseloads`` command planning (preview) and applying a fill
of ``--fill-patients`` patients missing an oLCM (100,000, at most one in ten of the data set),
and the ``transfer_caseload`` command applying the spread of an LCM holding 5,000 patients
(at most one in twenty of the data set; ``set_up_transfer``).

The data set leaves about one counted patient in eight without an oLCM and gives every LCM
the default capacity (60 points, far below the ~11,000 each carries). The set-up, undone with
the other writes (``bench.restore``), makes a fill of exactly that size meaningful:

1. every counted patient gets an oLCM (rows without a case load get one), so that only the
   patients chosen next are missing one;
2. the oLCM of the fill's patients plus 1,000 per auto-assign request (drawn with ``--seed``
   among the counted patients) is cleared;
3. every active LCM gets the same capacity (a ``LeadCareManagerProfile`` row): the weighted
   load they carry, plus 1.25 times the weight of the cleared patients, spread evenly, so the
   fill fits with room to spare, on the LCMs least utilized first.

The members an earlier import step created are removed first (the set-up and the measurements
run on the data set as built). The auto-assign requests run first, each placing the heaviest
1,000 of all those waiting; then ``plan_caseloads --role olcm`` (preview) and ``plan_caseloads
--role olcm --apply`` each plan exactly the fill's size. Each step starts with a
``CHECKPOINT``, as the other writes do.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import psycopg

from bench import replay, restore
from bench.commands import CommandRun, available_commands, run_command
from bench.database import active_user_ids, checkpoint
from bench.driver import one_request
from bench.results import WriteResult
from bench.workload import API, WRITE_TARGET_S, Request, fmt_ms, log

AUTO_ASSIGN_SIZE = 1000
# The caseload ``transfer_caseload`` moves (oLCM patients of one LCM).
TRANSFER_SIZE = 5000
COUNTED = ("new_member", "continuing_member", "pending_member")
# The app's default ACUITY_WEIGHTS (the bench does not change them).
WEIGHT_SQL = "CASE acuity WHEN 'low' THEN 1 WHEN 'high' THEN 3 ELSE 2 END"
HEADROOM = 1.25


def transfer_size(patients: int) -> int:
    """The caseload transferred: ``TRANSFER_SIZE`` patients, at most one in twenty."""
    return max(1, min(TRANSFER_SIZE, patients // 20))


def fill_size(wanted: int, patients: int) -> int:
    """The fill measured: ``wanted`` patients, at most one in ten of the data set's."""
    return max(1, min(wanted, patients // 10))


class PlanningMeasurement:
    """Sets up, then times, the planning writes of one run (the caller snapshots first)."""

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
        self.fill = fill_size(args.fill_patients, patients)
        self.transfer = transfer_size(patients)
        self.wanted = wanted

    def measure(self) -> list[WriteResult]:
        auto_assign = plan = None
        if self.wanted("auto_assign"):
            auto_assign = WriteResult(
                "auto_assign",
                f"POST /lead_care_managers/auto_assign ({AUTO_ASSIGN_SIZE:,} patients applied)",
                target_s=WRITE_TARGET_S["auto_assign"],
            )
        if self.wanted("plan_caseloads"):
            plan = (
                WriteResult(
                    "plan_caseloads_preview",
                    f"manage.py plan_caseloads --role olcm (fill of {self.fill:,}: preview)",
                    target_s=WRITE_TARGET_S["plan_caseloads_preview"],
                ),
                WriteResult(
                    "plan_caseloads_apply",
                    f"manage.py plan_caseloads --role olcm --apply (fill of {self.fill:,})",
                    target_s=WRITE_TARGET_S["plan_caseloads_apply"],
                ),
            )
        transfer = None
        if self.wanted("transfer_caseload"):
            transfer = WriteResult(
                "transfer_caseload",
                "manage.py transfer_caseload --role olcm --apply (an LCM holding "
                f"{self.transfer:,} patients, spread)",
                target_s=WRITE_TARGET_S["transfer_caseload"],
            )
        results = [r for r in (auto_assign, *(plan or ()), transfer) if r is not None]
        if not results:
            return []
        removed = restore.remove_imported_members(self.url)
        if removed:  # measured on the data set as built, not with the import's members
            log(f"planning: removed the {removed:,} members the import created")
        if auto_assign or plan:
            # The auto-assign requests: the in-process capture, then --bulk-runs over HTTP.
            extra = (self.args.bulk_runs + 1) * AUTO_ASSIGN_SIZE if auto_assign else 0
            fill = self.fill if plan else 0
            log(f"planning: {fill + extra:,} counted patients without an oLCM ...")
            summary = set_up(self.url, fill, extra, self.args.seed)
            log(f"  {summary}")
            for result in (auto_assign, *(plan or ())):
                if result is not None:
                    result.note = summary
            if auto_assign:
                checkpoint(self.url)
                self._auto_assign(auto_assign)
            if plan:
                self._plan_caseloads(*plan)
        if transfer:
            self._transfer_caseload(transfer)
        return results

    def _auto_assign(self, result: WriteResult) -> None:
        body = {
            "role": "olcm",
            "limit": AUTO_ASSIGN_SIZE,
            "dry_run": False,
            "reason": "bench: auto-assign",
        }
        request = Request("POST", f"{API}/lead_care_managers/auto_assign", body)
        log("auto_assign: capturing the SQL of one request in-process ...")
        _, captured = replay.capture(
            [{"name": "auto_assign", "write": True, "variants": [asdict(request)]}],
            "auto_assign",
            token=self.token,
            env=self.env,
            out=self.out,
        )
        first = captured["auto_assign"][0]
        if first["status"] == 404:
            result.status = "route missing (404)"
            return
        result.queries = len(first["sql"])
        result.note += f"; in-process run: {first['ms'] / 1000:.2f}s"
        log(f"auto_assign: {self.args.bulk_runs} sequential requests over HTTP ...")
        for _ in range(self.args.bulk_runs):
            status, seconds, data = one_request(self.port, self.token, request)
            run = {"seconds": seconds, "status": status, "ok": status == 200}
            try:
                answer = json.loads(data)
                applied = answer["applied"]
                run["successful_count"] = applied["successful_count"]
                run["failed_count"] = applied["failed_count"]
                run["ok"] = run["ok"] and applied["failed_count"] == 0
                run["ok"] = run["ok"] and len(answer["moves"]) == AUTO_ASSIGN_SIZE
            except (ValueError, KeyError, TypeError):
                run["ok"] = False
                run["first_failure"] = data[:200].decode("utf-8", "replace")
            result.runs.append(run)
            log(f"  {seconds:.3f}s status {status} successful {run.get('successful_count')}")

    def _plan_caseloads(self, preview: WriteResult, apply: WriteResult) -> None:
        if "plan_caseloads" not in available_commands(self.env):
            preview.status = apply.status = "command missing"
            return
        expected = f"{self.fill} moves, 0 unplaced"
        checkpoint(self.url)
        log(f"{preview.label} ...")
        run = self._command(preview.name, ["plan_caseloads", "--role", "olcm"])
        preview.runs.append(_outcome(run, expected, "(preview: nothing written)"))
        checkpoint(self.url)
        log(f"{apply.label} ...")
        results = self.out / "plan_caseloads.results.csv"
        argv = ["plan_caseloads", "--role", "olcm", "--apply", "--reason", "bench: fill"]
        run = self._command(apply.name, [*argv, "--results", str(results)])
        succeeded = f"(applied: {self.fill} succeeded, 0 failed)"
        apply.runs.append(_outcome(run, expected, succeeded))

    def _transfer_caseload(self, result: WriteResult) -> None:
        if "transfer_caseload" not in available_commands(self.env):
            result.status = "command missing"
            return
        log(f"transfer: an LCM holding {self.transfer:,} patients as oLCM ...")
        email, moves, summary = set_up_transfer(self.url, self.transfer, self.args.seed)
        result.note = summary
        log(f"  {summary}")
        checkpoint(self.url)
        log(f"{result.label} ...")
        argv = [
            "transfer_caseload", "--from", email, "--role", "olcm", "--reason",
            "bench: transfer", "--apply", "--results",
            str(self.out / "transfer_caseload.results.csv"),
        ]  # fmt: skip
        run = self._command(result.name, argv)
        expected = f"{moves} moves, 0 unplaced"
        result.runs.append(_outcome(run, expected, f"(applied: {moves} succeeded, 0 failed)"))

    def _command(self, name: str, argv: list[str]) -> CommandRun:
        run = run_command(name, argv, self.env, self.out, self.args.command_timeout)
        log(f"  {fmt_ms(run.seconds, 2)}s exit {run.returncode}: {run.summary}")
        return run


def _outcome(run: CommandRun, *expected: str) -> dict:
    """A command run as the report shows it; ok when it exited 0 saying what was expected."""
    ok = run.returncode == 0 and all(text in run.summary for text in expected)
    return {
        "seconds": run.seconds,
        "returncode": run.returncode,
        "ok": ok,
        "summary": run.summary,
        "stderr_tail": run.stderr_tail if ok else (run.stderr_tail or "unexpected summary"),
    }


def set_up(url: str, fill: int, extra: int, seed: int) -> str:
    """Steps 1-3 of the module's description; what was done, in one line."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        lcms = active_user_ids(conn, "ecm")
        counted = [
            row[0]
            for row in conn.execute(
                "SELECT patient_id FROM patients_ecmeligibilityinformation"
                " WHERE member_record_status = ANY(%s) ORDER BY patient_id",
                (list(COUNTED),),
            )
        ]
        if not lcms or len(counted) < fill + extra:
            raise SystemExit("planning: the data set has too few LCMs or counted patients")
        # 1. Every counted patient gets an oLCM other than its iLCM.
        params = {"lcms": lcms, "n": len(lcms), "counted": list(COUNTED)}
        assigned = conn.execute(
            """
            UPDATE care_team_caseload c SET olcm_id = CASE
                    WHEN (%(lcms)s::bigint[])[1 + c.patient_id %% %(n)s] IS DISTINCT FROM c.ilcm_id
                    THEN (%(lcms)s::bigint[])[1 + c.patient_id %% %(n)s]
                    ELSE (%(lcms)s::bigint[])[1 + (c.patient_id + 1) %% %(n)s]
                END,
                olcm_assigned_at = now() - interval '1 year', updated_at = now()
            FROM patients_ecmeligibilityinformation e
            WHERE e.patient_id = c.patient_id AND c.olcm_id IS NULL
                AND e.member_record_status = ANY(%(counted)s)
            """,
            params,
        ).rowcount
        created = conn.execute(
            "INSERT INTO care_team_caseload (patient_id, olcm_id, olcm_assigned_at, created_at,"
            " updated_at) SELECT e.patient_id, (%(lcms)s::bigint[])[1 + e.patient_id %% %(n)s],"
            " now() - interval '1 year', now(), now() FROM patients_ecmeligibilityinformation e"
            " WHERE e.member_record_status = ANY(%(counted)s) AND NOT EXISTS"
            " (SELECT 1 FROM care_team_caseload c WHERE c.patient_id = e.patient_id)",
            params,
        ).rowcount
        # 2. The fill's patients and the auto-assign's lose their oLCM.
        chosen = random.Random(seed).sample(counted, fill + extra)
        conn.execute(
            "UPDATE care_team_caseload SET olcm_id = NULL, olcm_assigned_at = NULL,"
            " updated_at = now() WHERE patient_id = ANY(%s)",
            (chosen,),
        )
        conn.execute("SELECT care_team_workload_compact()")
        # 3. One capacity for every LCM: their load, plus the cleared patients' with room.
        load = conn.execute(
            f"SELECT COALESCE(sum(patients * {WEIGHT_SQL}), 0)::bigint FROM care_team_workloadcount"
            " WHERE user_id = ANY(%s)",
            (lcms,),
        ).fetchone()[0]
        waiting = conn.execute(
            "SELECT COALESCE(sum(CASE acuity_level WHEN 'low' THEN 1 WHEN 'high' THEN 3"
            " ELSE 2 END), 0)::bigint FROM patients_ecmeligibilityinformation"
            " WHERE patient_id = ANY(%s)",
            (chosen,),
        ).fetchone()[0]
        capacity = math.ceil((load + HEADROOM * waiting) / len(lcms))
        conn.execute(
            "INSERT INTO care_team_leadcaremanagerprofile (user_id, capacity,"
            " accepting_patients, updated_at) SELECT id, %s, true, now() FROM unnest(%s::bigint[])"
            " AS id ON CONFLICT (user_id) DO UPDATE SET capacity = EXCLUDED.capacity,"
            " accepting_patients = true",
            (capacity, lcms),
        )
    return (
        f"set-up: {assigned + created:,} counted patients given an oLCM ({created:,} new case"
        f" loads), {len(chosen):,} cleared ({waiting:,} points), {len(lcms)} LCMs at capacity"
        f" {capacity:,} (carrying {load:,} points)"
    )


def set_up_transfer(url: str, size: int, seed: int) -> tuple[str, int, str]:
    """The transfer's set-up: the first active LCM holds ``size`` ECM patients as oLCM (counted
    ones drawn with ``seed`` are given to them, never one whose iLCM they are); every other
    active LCM accepts patients, with room for 1.25 times the points moving, shared evenly.
    Returns the LCM's email, the moves the transfer must make and what was done, in one line.
    """
    with psycopg.connect(url, connect_timeout=5) as conn:
        lcms = active_user_ids(conn, "ecm")
        if len(lcms) < 2:
            raise SystemExit("transfer: the data set has fewer than two active LCMs")
        source, receivers = lcms[0], lcms[1:]
        email = conn.execute("SELECT email FROM accounts_user WHERE id = %s", (source,)).fetchone()
        held = _held(conn, source)
        if held < size:
            candidates = [
                row[0]
                for row in conn.execute(
                    "SELECT c.patient_id FROM care_team_caseload c"
                    " JOIN patients_ecmeligibilityinformation e ON e.patient_id = c.patient_id"
                    " WHERE e.member_record_status = ANY(%s)"
                    " AND c.olcm_id IS DISTINCT FROM %s AND c.ilcm_id IS DISTINCT FROM %s"
                    " ORDER BY c.patient_id",
                    (list(COUNTED), source, source),
                )
            ]
            chosen = random.Random(seed).sample(candidates, min(size - held, len(candidates)))
            conn.execute(
                "UPDATE care_team_caseload SET olcm_id = %s,"
                " olcm_assigned_at = now() - interval '1 year', updated_at = now()"
                " WHERE patient_id = ANY(%s)",
                (source, chosen),
            )
            conn.execute("SELECT care_team_workload_compact()")
        moves = _held(conn, source)
        points = conn.execute(
            f"SELECT COALESCE(sum(patients * {WEIGHT_SQL}), 0)::bigint"
            " FROM care_team_workloadcount WHERE user_id = %s AND role = 'olcm'",
            (source,),
        ).fetchone()[0]
        share = math.ceil(HEADROOM * points / len(receivers))
        conn.execute(
            f"""
            INSERT INTO care_team_leadcaremanagerprofile (user_id, capacity,
                accepting_patients, updated_at)
            SELECT u.id, COALESCE(w.load, 0) + %s, true, now()
            FROM unnest(%s::bigint[]) AS u(id)
            LEFT JOIN (
                SELECT user_id, sum(patients * {WEIGHT_SQL})::bigint AS load
                FROM care_team_workloadcount GROUP BY user_id
            ) w ON w.user_id = u.id
            ON CONFLICT (user_id) DO UPDATE SET capacity = EXCLUDED.capacity,
                accepting_patients = true
            """,
            (share, receivers),
        )
    summary = (
        f"set-up: LCM {source} holds {moves:,} patients as oLCM ({points:,} points);"
        f" {len(receivers)} accepting LCMs with {share:,} points of room each"
    )
    return email[0], moves, summary


def _held(conn, user_id: int) -> int:
    return conn.execute(
        "SELECT count(*) FROM care_team_caseload c"
        " JOIN patients_ecmeligibilityinformation e ON e.patient_id = c.patient_id"
        " WHERE c.olcm_id = %s",
        (user_id,),
    ).fetchone()[0]
