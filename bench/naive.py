"""The naive hold path bench/release.py compares with: every request reads its token from the
database, locks the schedule row (``SELECT … FOR UPDATE``), counts the account's holds, locks
the first free slot and takes it, all in one transaction; sold out is found out the same way.

Served by granian exactly as ``guahao serve`` serves the product (``bench.naive:application``),
with the product's URLs and ``POST /bench/naive-hold`` beside them.
"""

from __future__ import annotations

import datetime as dt
import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

settings.ROOT_URLCONF = "bench.naive"
application = get_wsgi_application()


@csrf_exempt
def naive_hold(request: HttpRequest) -> JsonResponse:
    from django.db import transaction

    from guahao.accounts.models import AuthToken, Patient
    from guahao.accounts.services import _digest
    from guahao.booking.models import Hold
    from guahao.core import clock
    from guahao.scheduling.models import Schedule, Slot

    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    body = json.loads(request.body)
    now = clock.now()
    with transaction.atomic():
        found = AuthToken.objects.select_related("account").filter(key_hash=_digest(token), expires_at__gt=now).first()
        if found is None:
            return JsonResponse({"code": "auth.required"}, status=401)
        account = found.account
        patient = Patient.objects.filter(pk=int(body["patient_id"]), account=account).first()
        if patient is None:
            return JsonResponse({"code": "not_found"}, status=404)
        schedule = Schedule.objects.select_for_update().get(pk=int(body["schedule_id"]))
        if Hold.objects.filter(account=account, status="held", expires_at__gt=now).count() >= 1:
            return JsonResponse({"code": "rule.active_holds"}, status=409)
        slot = (
            Slot.objects.select_for_update()
            .filter(schedule=schedule, pool="platform", state="free")
            .order_by("number")
            .first()
        )
        if slot is None:
            return JsonResponse({"code": "slot.unavailable"}, status=409)
        slot.state = "held"
        slot.save(update_fields=["state"])
        hold = Hold.objects.create(
            account=account,
            patient=patient,
            person_hash=patient.id_number_hash,
            hospital_id=schedule.hospital_id,
            department_id=schedule.department_id,
            schedule=schedule,
            period_id=slot.period_id,
            slot=slot,
            visit_date=schedule.date,
            registration_fee_fen=schedule.registration_fee_fen,
            consultation_fee_fen=schedule.consultation_fee_fen,
            payment_required=False,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=15),
        )
    return JsonResponse({"id": str(hold.pk), "slot_number": slot.number}, status=201)


urlpatterns = [path("bench/naive-hold", naive_hold), path("", include("guahao.urls"))]
