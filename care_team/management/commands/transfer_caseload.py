"""``manage.py transfer_caseload --from EMAIL [--to EMAIL] --role olcm|ilcm|both --reason TEXT``:
move every patient a Lead Care Manager holds in the role(s), to one LCM or spread over the
accepting LCMs; a preview unless ``--apply``.

The plan is the one ``POST /lead_care_managers/{id}/transfer`` makes, by the same planner and
rules (``care_team.planning.transfer.plan_transfer``), without the route's 1,000 patients per
call: every patient the LCM holds. It is reported and applied as ``plan_caseloads`` does (this
command is that one with other options): ``--results`` writes one row per move and per
unplaced patient, ``--apply`` writes through ``plans.apply_plan`` (the care-team write core:
history with the reason, activity, audit), 1,000 patients per transaction, two writers on
PostgreSQL; a patient whose care team changed since the plan was made is skipped and reported.

Exit status 1 when any move failed to apply, and when any of the LCM's patients could not be
moved (unplaced: the caseload is not emptied), in a preview too; otherwise 0.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from audit.models import Action
from care_team import selectors
from care_team.management.commands import plan_caseloads
from care_team.planning import transfer
from care_team.planning.planner import ILCM, OLCM
from ecm_admin.exceptions import NotFound, UnprocessableEntity

ACTOR_NAME = plan_caseloads.ACTOR_NAME


class Command(plan_caseloads.Command):
    help = (
        "Transfer a Lead Care Manager's caseload: every patient they hold in the role(s), to "
        "one LCM (--to) or spread over the accepting LCMs (least utilized after the move, "
        "within capacity); a preview unless --apply."
    )
    audit_action = Action.READ_LIST

    def add_arguments(self, parser):
        parser.add_argument(
            "--from", dest="source", required=True, metavar="EMAIL", help="the LCM leaving"
        )
        parser.add_argument(
            "--to",
            dest="target",
            metavar="EMAIL",
            help="every patient to this LCM (default: spread over the accepting LCMs)",
        )
        parser.add_argument("--role", required=True, choices=("olcm", "ilcm", "both"))
        parser.add_argument(
            "--reason", required=True, help="why (required): kept on history and activity"
        )
        self._add_writing_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        reason = options["reason"]
        if not reason.strip():
            raise CommandError("--reason is required: a transfer is always documented")
        apply = options["apply"]
        actor = self._writer(options)
        source = self._lcm("--from", options["source"])
        target = self._lcm("--to", options["target"]) if options["target"] else None
        if target == source:
            raise CommandError("--to must be another Lead Care Manager than --from")
        roles = [OLCM, ILCM] if options["role"] == "both" else [options["role"]]

        def make_plan():
            try:
                return transfer.plan_transfer(source=source, roles=roles, target=target, limit=None)
            except (NotFound, UnprocessableEntity) as exc:  # changed since the options were read
                raise CommandError(" ".join(getattr(exc, "errors", [str(exc.detail)]))) from exc

        plan = self._carry_out(
            make_plan, options["results"], apply=apply, actor=actor, reason=reason
        )
        if plan.unplaced:
            raise CommandError(
                f"{len(plan.unplaced)} of the LCM's roles could not be moved (see --results):"
                " the caseload is not emptied"
            )

    def _lcm(self, option: str, email: str) -> int:
        found = selectors.active_lcm_ids_by_email([email.strip()])
        user_id = found.get(email.strip().lower())
        if user_id is None:
            raise CommandError(f"{option} {email}: not an active Lead Care Manager")
        return user_id
