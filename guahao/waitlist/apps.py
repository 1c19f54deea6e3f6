from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WaitlistConfig(AppConfig):
    name = "guahao.waitlist"
    label = "waitlist"
    verbose_name = _("Waitlist")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guahao.core import outbox
        from guahao.waitlist import handlers

        outbox.subscribe(consumer="waitlist", topics=handlers.TOPICS, handler=handlers.handle)
        from guahao.accounts import ports as accounts_ports
        from guahao.waitlist.services import patient_waiting

        accounts_ports.guard_patients("waitlist", patient_waiting)
