"""ECM authorizations, upserted by ``auth_no`` for existing ECM members.

``member_id`` names the member whatever its case (as in the eligibility feed). An
authorization already recorded for another member is reported, not moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ecm_admin.csvfiles import Record
from ecm_admin.db import bulk_update_rows
from patients.importers.base import ChunkImporter
from patients.importers.columns import (
    AUTHORIZATION_COLUMNS,
    Values,
    assign,
    changes,
    model_values,
    shown,
)
from patients.importers.report import ImportReport, RowError
from patients.importers.runner import CHUNK_SIZE, run
from patients.models import EcmAuthorization
from patients.rules import DATE_ORDERS
from patients.selectors import eligibility_by_member_key, member_keys


class AuthorizationImporter(ChunkImporter):
    columns = AUTHORIZATION_COLUMNS
    key = "auth_no"
    date_order = DATE_ORDERS[EcmAuthorization]

    def __init__(self, header: Sequence[str], dry_run: bool):
        super().__init__(header, dry_run)
        self.auth_columns = [c for c in self.present if c.name != "member_id"]

    def apply(self, valid: list[tuple[int, Values]], outcome: ImportReport) -> None:
        keys = member_keys(values["member_id"] for _, values in valid)
        by_key = dict(
            eligibility_by_member_key(set(keys.values())).values_list("member_key", "patient_id")
        )
        patients = {member_id: by_key.get(key) for member_id, key in keys.items()}
        existing = self._existing([values["auth_no"] for _, values in valid])
        if not self.dry_run:
            # Re-read the rows about to change under a lock, so no concurrent edit is lost.
            changing = [
                values["auth_no"]
                for _, values in valid
                if values["auth_no"] in existing and self._compare(values, patients, existing)[1]
            ]
            existing.update(self._existing(changing, lock=True))
        new: list[EcmAuthorization] = []
        changed: list[EcmAuthorization] = []
        for line, values in valid:
            problem, changed_values, authorization = self._compare(values, patients, existing)
            if problem:
                outcome.errors.append(RowError(line, problem))
            elif authorization.pk is None:
                new.append(authorization)
                outcome.created += 1
            elif changed_values:
                assign(authorization, changed_values)
                changed.append(authorization)
                outcome.updated += 1
            else:
                outcome.unchanged += 1
        if not self.dry_run:
            EcmAuthorization.objects.bulk_create(new)
            bulk_update_rows(
                changed,
                [*(c.model_attr for c in self.auth_columns if c.name != self.key), "updated_at"],
            )
            outcome.patient_ids.extend(a.patient_id for a in [*new, *changed])

    @staticmethod
    def _existing(auth_nos: list[str], lock: bool = False) -> dict[str, EcmAuthorization]:
        if not auth_nos:
            return {}
        rows = EcmAuthorization.objects.filter(auth_no__in=auth_nos).order_by("pk")
        if lock:
            rows = rows.select_for_update()
        return {row.auth_no: row for row in rows}

    def _compare(
        self,
        values: Values,
        patients: dict[str, int | None],
        existing: dict[str, EcmAuthorization],
    ) -> tuple[str | None, Values, EcmAuthorization | None]:
        """(problem, changes, authorization): a new authorization comes unsaved, with its
        values; a stored one comes as stored, with the changes it needs."""
        member_id = values["member_id"]
        patient_id = patients.get(member_id)
        if patient_id is None:
            return f"member_id {shown(member_id)} is not an ECM member", {}, None
        auth_values = model_values(values, self.auth_columns)
        authorization = existing.get(values["auth_no"])
        if authorization is None:
            authorization = EcmAuthorization(patient_id=patient_id, **auth_values)
            changed_values = {}
        elif authorization.patient_id != patient_id:
            problem = f"auth_no {shown(authorization.auth_no)} belongs to another member"
            return problem, {}, None
        else:
            changed_values = changes(authorization, auth_values)
        return self.date_problem(changed_values, authorization), changed_values, authorization


def import_authorizations(
    *,
    header: Sequence[str],
    records: Iterable[Record],
    dry_run: bool = False,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Upsert ECM authorizations by ``auth_no``; ``member_id`` must name an ECM member
    (records as ``ecm_admin.csvfiles.CsvReader`` reads them)."""
    importer = AuthorizationImporter(header, dry_run)
    return run(importer, records, chunk_size=chunk_size, on_progress=on_progress)
