"""``manage.py plan_caseloads --role olcm|ilcm|both``: auto-assign (fill) or rebalance Lead
Care Managers for any number of patients; a preview unless ``--apply``.

The plan is the one ``POST /lead_care_managers/auto_assign`` makes, by the same planner and
rules (``care_team.planning.plans.plan_auto_assign``), without the route's 1,000 patients per
call: a fill plans every counted patient missing the role (``--limit`` caps it). ``--apply``
writes it through ``plans.apply_plan`` (the care-team write core: history with the reason,
activity, the same checks), 1,000 patients per transaction; a patient whose care team changed
since the plan was made is skipped and reported. On PostgreSQL two writers (threads with a
connection each, ``ecm_admin.writers``) apply chunks at the same time; each patient is in one
chunk only, so they never touch the same patient. The workload counts' delta rows that the
large statements leave are merged at the end.

Exit status 1 when any move failed to apply, and when patients were waiting for a role and
none of them could be placed (no accepting LCM with room), in a preview too; otherwise 0, even
when some patients were left unplaced (they are counted in the summary and listed in
``--results``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import CommandError

from accounts.models import User
from audit.commands import AuditedCommand
from audit.models import Action
from care_team import selectors
from care_team.planning import plans
from care_team.planning.planner import ILCM, OLCM, Move, Plan, utilization_value
from care_team.services import MAX_BULK_ITEMS, MAX_REASON_LENGTH
from ecm_admin.progress import Progress
from ecm_admin.writers import Writers, writer_count
from patients.models import EcmEligibilityInformation

ACTOR_NAME = "Care-team planning"
RESULT_COLUMNS = [
    "patient_id", "member_id", "role", "from_user_id", "to_user_id", "weight", "why", "status",
    "errors",
]  # fmt: skip
# Patients per transaction (one ``apply_plan`` call each).
CHUNK = MAX_BULK_ITEMS
MAX_REPORTED_FAILURES = 100
DEFAULT_MAX_MOVES = 100
DEFAULT_TOLERANCE = Fraction(1, 10)
# The moves of a chunk whose writer failed (the other chunks' moves are written), and of the
# chunks never started because the command stopped.
NOT_WRITTEN = "Not applied: a database error stopped this chunk"
NOT_STARTED = "Not applied: the command stopped before this chunk"

# One chunk: its patients in plan order, each with its moves.
Chunk = list[tuple[int, list[Move]]]


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError(value)
    return number


_positive.__name__ = "positive integer"


def _tolerance(value: str) -> Fraction:
    try:
        number = Fraction(value.strip())
    except (ValueError, ZeroDivisionError):
        number = Fraction(-1)
    if number < 0:
        raise ValueError(value)
    return number


_tolerance.__name__ = "number of at least 0"


class Command(AuditedCommand):
    help = (
        "Plan the Lead Care Managers' caseloads: fill the counted patients missing a role "
        "(heaviest first, least utilized accepting LCM, within capacity) or rebalance; "
        "a preview unless --apply."
    )
    audit_action = Action.READ_LIST

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, choices=("olcm", "ilcm", "both"))
        parser.add_argument(
            "--mode",
            choices=("fill", "rebalance"),
            default="fill",
            help="fill (default): only patients missing the role; rebalance: also move "
            "patients from the most to the least utilized LCMs",
        )
        parser.add_argument(
            "--max-moves",
            type=_positive,
            default=DEFAULT_MAX_MOVES,
            help=f"rebalance: at most this many moves between LCMs ({DEFAULT_MAX_MOVES})",
        )
        parser.add_argument(
            "--tolerance",
            type=_tolerance,
            default=DEFAULT_TOLERANCE,
            help="rebalance: stop once the utilization spread is at most this (0.10)",
        )
        parser.add_argument(
            "--limit", type=_positive, help="fill: at most this many patients (default: all)"
        )
        parser.add_argument(
            "--lcm",
            action="append",
            default=[],
            metavar="EMAIL",
            help="only this Lead Care Manager receives patients (repeat for several)",
        )
        parser.add_argument("--reason", default="", help="kept on history and activity")
        self._add_writing_arguments(parser)

    @staticmethod
    def _add_writing_arguments(parser) -> None:
        """How a plan is reported and written: ``--results``, ``--actor-email``, and
        ``--apply`` or ``--dry-run``."""
        parser.add_argument("--results", help="write one row per move and per unplaced patient")
        parser.add_argument("--actor-email", help="record the changes as made by this user")
        writes = parser.add_mutually_exclusive_group()
        writes.add_argument("--apply", action="store_true", help="write the plan")
        writes.add_argument(
            "--dry-run", action="store_true", help="preview only (the default): write nothing"
        )

    def _writer(self, options: dict[str, Any]) -> User | None:
        """The ``--reason`` checked for length, and the actor of ``--actor-email`` (named on
        the audit record too)."""
        if len(options["reason"]) > MAX_REASON_LENGTH:
            raise CommandError(f"--reason must be at most {MAX_REASON_LENGTH} characters")
        actor = self._actor(options["actor_email"])
        self.audit_user_id = actor.pk if actor else None
        return actor

    def handle(self, *args: Any, **options: Any) -> None:
        reason = options["reason"]
        apply = options["apply"]
        actor = self._writer(options)
        receivers = self._receivers(options["lcm"])
        roles = [OLCM, ILCM] if options["role"] == "both" else [options["role"]]
        plan = self._carry_out(
            lambda: plans.plan_auto_assign(
                roles=roles,
                mode=options["mode"],
                patients=None,
                receivers=receivers,
                max_moves=options["max_moves"],
                tolerance=options["tolerance"],
                limit=options["limit"],
            ),
            options["results"],
            apply=apply,
            actor=actor,
            reason=reason,
        )
        if plan.unplaced and not any(move.from_user_id is None for move in plan.moves):
            raise CommandError(
                f"None of the {len(plan.unplaced)} waiting roles could be placed: no accepting"
                " Lead Care Manager has capacity"
            )

    def _carry_out(
        self,
        make_plan: Callable[[], Plan],
        results_path: str | None,
        *,
        apply: bool,
        actor,
        reason: str,
    ) -> Plan:
        """Make the plan, write it (``apply``) or only its results file, print the failures and
        the summary line; a failed move is a ``CommandError``."""
        results = self._open_results(results_path)
        try:
            plan = make_plan()
            report = _Report(results, self.stderr)
            if apply:
                self.audit_action = Action.BULK_ASSIGN
                self._apply(_chunks(plan.moves), report, actor=actor, reason=reason)
            elif results is not None:
                chunks = _chunks(plan.moves)
                with Progress(sum(map(len, chunks)), label="Writing results") as bar:
                    for chunk in chunks:
                        report.chunk(chunk, None)
                        bar.advance(len(chunk))
            report.unplaced(plan)
        finally:
            if results is not None:
                results.close()
        if not apply:
            self.audit_patient_ids = _named_patients(plan)
        report.print_failures()
        self.stdout.write(_summary(plan, report, applied=apply))
        if report.failed:
            raise CommandError(f"{report.failed} of {len(plan.moves)} moves failed")
        return plan

    # --- applying ----------------------------------------------------------------

    def _apply(self, chunks: list[Chunk], report: _Report, *, actor, reason: str) -> None:
        """Every chunk through ``plans.apply_plan``; with several writers, one chunk each at a
        time, while this thread reports the chunks done before."""
        count = writer_count()
        with (
            Progress(sum(map(len, chunks)), label="Applying") as bar,
            Writers(count, name="plan-caseloads") as writers,
        ):
            previous: list[tuple[Chunk, list[list[str]] | None]] = []
            for start in range(0, len(chunks), count):
                batch = chunks[start : start + count]
                futures = [
                    writers.submit(index, _apply_chunk, chunk, actor, reason)
                    for index, chunk in enumerate(batch)
                ]
                self._report(previous, report, bar)
                outcomes, failure = Writers.results(futures)
                previous = [
                    (chunk, errors if errors is not None else [[NOT_WRITTEN]] * len(chunk))
                    for chunk, errors in zip(batch, outcomes, strict=True)
                ]
                done = start + len(batch)
                if failure is not None:
                    self._report(previous, report, bar)
                    for chunk in chunks[done:]:
                        report.chunk(chunk, [[NOT_STARTED]] * len(chunk))
                    raise failure
            self._report(previous, report, bar)

    def _report(self, done: list, report: _Report, bar: Progress) -> None:
        for chunk, errors in done:
            report.chunk(chunk, errors)
            self.audit_patient_ids.extend(
                patient_id
                for (patient_id, _), item_errors in zip(chunk, errors, strict=True)
                if not item_errors
            )
            bar.advance(len(chunk))

    # --- options -------------------------------------------------------------------

    def _actor(self, email: str | None) -> User | None:
        if not email:
            return None
        actor = User.objects.filter(email__iexact=email.strip(), is_active=True).first()
        if actor is None:
            raise CommandError(f"--actor-email {email}: no active user with that email")
        return actor

    def _receivers(self, emails: Sequence[str]) -> set[int] | None:
        if not emails:
            return None
        found = selectors.active_lcm_ids_by_email(email.strip() for email in emails)
        unknown = [email for email in emails if email.strip().lower() not in found]
        if unknown:
            raise CommandError(
                "; ".join(f"--lcm {email}: not an active Lead Care Manager" for email in unknown)
            )
        return set(found.values())

    def _open_results(self, path: str | None) -> TextIO | None:
        if not path:
            return None
        try:
            return Path(path).open("w", newline="", encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}") from exc


def _apply_chunk(chunk: Chunk, actor: User | None, reason: str) -> list[list[str]]:
    """One chunk's moves written by the care-team write core; errors per patient."""
    sub_plan = Plan(moves=[move for _, moves in chunk for move in moves])
    items, result = plans.apply_plan(
        sub_plan, actor=actor, reason=reason, default_actor_name=ACTOR_NAME
    )
    if [item.patient_id for item in items] != [patient_id for patient_id, _ in chunk]:
        raise AssertionError("apply_plan returned its items out of the plan's order")
    return result.errors


def _chunks(moves: Sequence[Move]) -> list[Chunk]:
    """The moves by patient (in the order of each patient's first move), ``CHUNK`` patients
    at a time."""
    by_patient: dict[int, list[Move]] = {}
    for move in moves:
        by_patient.setdefault(move.patient_id, []).append(move)
    patients = list(by_patient.items())
    return [patients[start : start + CHUNK] for start in range(0, len(patients), CHUNK)]


def _named_patients(plan: Plan) -> list[int]:
    ids = dict.fromkeys(move.patient_id for move in plan.moves)
    ids.update(dict.fromkeys(item.patient_id for item in plan.unplaced))
    return list(ids)


class _Report:
    """The ``--results`` rows (when asked for), the counts and the first failures."""

    def __init__(self, handle: TextIO | None, stderr):
        self.writer = csv.writer(handle) if handle is not None else None
        if self.writer is not None:
            self.writer.writerow(RESULT_COLUMNS)
        self.stderr = stderr
        self.succeeded = 0
        self.failed = 0  # moves
        self.failed_patients = 0
        self.failures: list[str] = []

    def chunk(self, chunk: Chunk, errors: list[list[str]] | None) -> None:
        """One chunk's moves: planned (``errors`` None) or applied with these errors."""
        outcomes = errors if errors is not None else [None] * len(chunk)
        member_ids = self._member_ids([patient_id for patient_id, _ in chunk])
        for (patient_id, moves), item_errors in zip(chunk, outcomes, strict=True):
            if item_errors is None:
                status = "planned"
            elif item_errors:
                status = "failed"
                self.failed += len(moves)
                self.failed_patients += 1
                if len(self.failures) < MAX_REPORTED_FAILURES:
                    self.failures.append(f"patient {patient_id}: {'; '.join(item_errors)}")
            else:
                status = "success"
                self.succeeded += len(moves)
            if self.writer is None:
                continue
            for move in moves:
                self.writer.writerow(
                    [
                        patient_id, member_ids.get(patient_id, ""), move.role,
                        _blank(move.from_user_id), move.to_user_id, move.weight, move.why,
                        status, "; ".join(item_errors or ()),
                    ]
                )  # fmt: skip

    def unplaced(self, plan: Plan) -> None:
        if self.writer is None:
            return
        for start in range(0, len(plan.unplaced), CHUNK):
            items = plan.unplaced[start : start + CHUNK]
            member_ids = self._member_ids([item.patient_id for item in items])
            for item in items:
                self.writer.writerow(
                    [
                        item.patient_id, member_ids.get(item.patient_id, ""), item.role, "", "",
                        "", "", "unplaced", "; ".join(item.errors),
                    ]
                )  # fmt: skip

    def _member_ids(self, patient_ids: list[int]) -> dict[int, str]:
        if self.writer is None or not patient_ids:
            return {}
        rows = EcmEligibilityInformation.objects.filter(patient_id__any_of=patient_ids)
        return dict(rows.values_list("patient_id", "member_id"))

    def print_failures(self) -> None:
        for failure in self.failures:
            self.stderr.write(failure)
        more = self.failed_patients - len(self.failures)
        if more:
            self.stderr.write(f"... and {more} more patients whose moves failed (see --results)")


def _blank(value: int | None) -> int | str:
    return "" if value is None else value


def _spread(value: Fraction | None) -> str:
    shown = utilization_value(value)
    return "none" if shown is None else f"{shown:.2f}"


def _summary(plan: Plan, report: _Report, *, applied: bool) -> str:
    parts = [f"{len(plan.moves)} moves", f"{len(plan.unplaced)} unplaced"]
    if plan.remaining_count:
        parts.append(f"{plan.remaining_count} patients left for a later run (--limit)")
    parts.append(f"spread {_spread(plan.before.spread)} → {_spread(plan.after.spread)}")
    if applied:
        outcome = f"(applied: {report.succeeded} succeeded, {report.failed} failed)"
    else:
        outcome = "(preview: nothing written)"
    return ", ".join(parts) + " " + outcome
