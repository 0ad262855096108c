"""Patient routes. Thin: parse input, call one selector or service, render."""

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import Action
from audit.services import access_report
from ecm_admin.exceptions import UnprocessableEntity
from ecm_admin.inputs import json_object, parse_id, reject_unknown_keys
from ecm_admin.pagination import page_request
from patients import selectors, services
from patients.etags import if_match_check, representation_etag
from patients.filtersets import PatientFilterSet, filter_value, parse_sort
from patients.serializers import parse_patient_update, patient_detail

PLURAL = "patients"
FILTER_BODY_KEYS = ("search", "sort_by", "sort_dir", "page", "per_page", "filters")


def _patients_page(*, filters: Mapping[str, Any], sort_by, sort_dir, paging: Mapping) -> dict:
    filterset = PatientFilterSet(data=filters, queryset=selectors.ecm_patients())
    filterset.validate()
    sort = parse_sort(sort_by, sort_dir)
    return selectors.patient_page(filters=filterset, sort=sort, page=page_request(paging))


class PatientListView(APIView):
    """GET /patients: query parameters are the filters, search, sort and paging."""

    def get(self, request):
        params = request.query_params
        filters = {key: params.get(key) for key in PatientFilterSet.base_filters if key in params}
        body = _patients_page(
            filters=filters,
            sort_by=params.get("sort_by"),
            sort_dir=params.get("sort_dir"),
            paging=params,
        )
        access_report(request, Action.READ_LIST, [p["id"] for p in body[PLURAL]])
        return Response(body)


def _filter_value(name: str, value: Any) -> str | None:
    """JSON filter values become the strings the FilterSet parses; objects and lists are 422."""
    try:
        return filter_value(name, value)
    except ValueError as exc:
        raise UnprocessableEntity(str(exc)) from None


class PatientFilterView(APIView):
    """POST /patients/filter: the same list, with criteria in a JSON body."""

    def post(self, request):
        body = json_object(request.data)
        reject_unknown_keys(body, FILTER_BODY_KEYS)
        # Absent or null: no filters; anything but an object (false, 0, "", []) is 422.
        filters = body.get("filters")
        filters = {} if filters is None else json_object(filters, "filters")
        reject_unknown_keys(filters, PatientFilterSet.FILTER_KEYS, "filters")
        data = {name: _filter_value(name, value) for name, value in filters.items()}
        search = body.get("search")
        if search is not None and not isinstance(search, str):
            raise UnprocessableEntity("search must be a string")
        data["search"] = search
        data = {key: value for key, value in data.items() if value is not None}
        page = _patients_page(
            filters=data,
            sort_by=body.get("sort_by"),
            sort_dir=body.get("sort_dir"),
            paging=body,
        )
        access_report(request, Action.READ_LIST, [p["id"] for p in page[PLURAL]])
        return Response(page)


def _patient_or_404(patient_id: int):
    patient = selectors.patient_detail(patient_id=patient_id)
    if patient is None:
        raise NotFound("Patient not found")
    return patient


class PatientDetailView(APIView):
    """GET /patients/{id}; PUT and PATCH (both partial) update it."""

    def get(self, request, patient_id: str):
        pk = parse_id("id", patient_id)
        access_report(request, Action.READ_DETAIL, [pk])
        detail = patient_detail(_patient_or_404(pk))
        return Response({"patient": detail}, headers={"ETag": representation_etag(detail)})

    def put(self, request, patient_id: str):
        pk = parse_id("id", patient_id)
        access_report(request, Action.UPDATE, [pk])
        try:
            changes = parse_patient_update(request.data)
        except UnprocessableEntity:
            # An unknown patient is 404 whatever the body says.
            if not selectors.ecm_patients().filter(pk=pk).exists():
                raise NotFound("Patient not found") from None
            raise
        services.patient_update(
            patient_id=pk,
            patient_fields=changes.patient,
            eligibility_fields=changes.eligibility,
            actor=request.user,
            # If-Match: checked under the row lock; a stale ETag is 412 and writes nothing.
            precondition=if_match_check(request.headers.get("If-Match"), pk),
        )
        detail = patient_detail(_patient_or_404(pk))
        return Response({"patient": detail}, headers={"ETag": representation_etag(detail)})

    patch = put
