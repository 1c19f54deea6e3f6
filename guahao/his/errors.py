from typing import Any

from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

HIS_FAILED = ProblemType(
    "his.failed",
    502,
    _("The hospital's system did not answer properly. Nothing was booked; please try again, or call the hospital"),
)
HIS_TIMEOUT = ProblemType(
    "his.timeout",
    504,
    _("The hospital's system did not answer in time. Nothing was booked; please try again, or call the hospital"),
)
SIGNATURE_INVALID = ProblemType("his.signature_invalid", 401, _("The event's signature is not valid"))
NOT_CONNECTED = ProblemType("his.not_connected", 404, _("This hospital is not connected to a HIS"))
SUSPEND_IN_HIS = ProblemType(
    "his.suspend_in_his",
    409,
    _("This hospital's clinics come from its HIS: suspend the clinic there, and the sync applies it here"),
)
SCHEDULES_FROM_HIS = ProblemType(
    "his.schedules_from_his",
    409,
    _("This hospital's schedules come from its HIS: change them there, and the sync applies it here"),
)
EXTRA_SLOTS_UNSUPPORTED = ProblemType(
    "his.extra_slots_unsupported",
    409,
    _("This hospital's HIS does not take extra slots from the platform: add them in the HIS"),
)

REGISTRATION_REFUSED = ProblemType(
    "his.registration_refused",
    409,
    _("The hospital's system did not accept this registration: please go to the registration window"),
)


def failure(*, timeout: bool, hospital_id: int, retry: bool = True, **extra: Any) -> Exception:
    """A HIS failure at hold or confirm, as the patient is answered: 504 for a timeout, else 502,
    whether trying again may help, and the hospital's phone to call instead."""
    from guahao.catalog.models import Hospital

    phone = Hospital.objects.filter(pk=hospital_id).values_list("phone", flat=True).first() or ""
    return (HIS_TIMEOUT if timeout else HIS_FAILED).error(retry=retry, hospital_phone=phone, **extra)
