from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

WAITLIST_OFF = ProblemType("waitlist.off", 409, _("This clinic has no waitlist"))
WAITLIST_NO_ONLINE = ProblemType(
    "waitlist.no_online",
    409,
    _("This clinic's slots are all given at the hospital: none comes free online to wait for"),
)
WAITLIST_NOT_FULL = ProblemType("waitlist.not_full", 409, _("Slots of this clinic are free: hold one instead"))
WAITLIST_FULL = ProblemType(
    "waitlist.full", 409, _("The waitlist of this clinic is full; other doctors may still have slots")
)
WAITLIST_CLOSED = ProblemType("waitlist.closed", 409, _("The waitlist of this clinic has closed"))
WAITLIST_ALREADY = ProblemType("waitlist.already", 409, _("This patient is already waiting for this clinic"))
ENTRY_NOT_ACTIVE = ProblemType("waitlist.not_active", 409, _("This waitlist entry has ended"))
