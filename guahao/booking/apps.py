from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BookingConfig(AppConfig):
    name = "guahao.booking"
    label = "booking"
    verbose_name = _("Orders")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guahao.accounts import ports
        from guahao.booking.selectors import patient_booked_ahead

        ports.guard_patients("booking", patient_booked_ahead)
