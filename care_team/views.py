"""Lead Care Manager routes: read input, call one service or selector, render."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import Action
from audit.services import record_patients
from care_team import selectors
from care_team.serializers import (
    bulk_failure_sentence,
    parse_assignment,
    parse_bulk,
    parse_lcm_list_query,
    parse_removal,
    render_bulk_result,
    render_case_load,
    render_lead_care_manager,
    render_patient_care_team,
)
from care_team.services import (
    PATIENT_NOT_FOUND,
    assign_care_team,
    bulk_assign_care_team,
    remove_lcm,
)
from ecm_admin.exceptions import NotFound
from ecm_admin.inputs import parse_id
from ecm_admin.pagination import page_request, paginate


class LeadCareManagerListView(APIView):
    def get(self, request):
        search, role = parse_lcm_list_query(request.query_params)
        page = page_request(request.query_params)
        users = selectors.lead_care_managers(search=search, role=role)
        return Response(
            paginate(
                users,
                page,
                "lead_care_managers",
                render_lead_care_manager,
                load=selectors.lead_care_manager_rows,
                row_id=selectors.lead_care_manager_row_id,
            )
        )


class AssignView(APIView):
    def post(self, request):
        return self._assign(request, "Lead Care Manager assigned successfully")

    def put(self, request):
        return self._assign(request, "Lead Care Manager assignment updated successfully")

    def delete(self, request):
        # Some clients cannot send a DELETE body; then the query string carries the input.
        # With a body, query parameters beside it must agree with it.
        query = request.query_params.dict()
        if request.stream is None:
            patient_id, role, reason = parse_removal(query)
        else:
            patient_id, role, reason = parse_removal(request.data, query)
        record_patients(request, Action.UNASSIGN, [patient_id])
        remove_lcm(patient_id=patient_id, role=role, actor=request.user, reason=reason)
        return Response({"message": "Lead Care Manager assignment removed successfully"})

    def _assign(self, request, message: str):
        item = parse_assignment(request.data)
        record_patients(request, Action.ASSIGN, [item.patient_id])
        case_load = assign_care_team(
            patient_id=item.patient_id,
            olcm_user_id=item.olcm_user_id,
            ilcm_user_id=item.ilcm_user_id,
            provider_id=item.provider_id,
            actor=request.user,
            reason=item.reason,
        )
        return Response({"message": message, "case_load": render_case_load(case_load)})


class BulkAssignView(APIView):
    def post(self, request):
        entries, atomic = parse_bulk(request.data)
        ids = [getattr(item, "patient_id", None) for _, item in entries]
        record_patients(request, Action.BULK_ASSIGN, ids)
        result = bulk_assign_care_team(
            assignments=[item for _, item in entries], actor=request.user, atomic=atomic
        )
        body = render_bulk_result([ref for ref, _ in entries], result)
        if atomic and result.invalid_count:
            body["errors"] = [bulk_failure_sentence(result)]
            return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return Response(body)


class PatientLeadCareManagersView(APIView):
    def get(self, request, patient_id: str):
        pk = parse_id("patient_id", patient_id)
        record_patients(request, Action.READ_DETAIL, [pk])
        patient = selectors.patient_care_team(pk)
        if patient is None:
            raise NotFound(PATIENT_NOT_FOUND)
        return Response(render_patient_care_team(patient))
