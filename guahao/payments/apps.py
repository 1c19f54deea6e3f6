from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "guahao.payments"
    label = "payments"
    verbose_name = _("Payments")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guahao.core import outbox
        from guahao.payments import handlers

        outbox.subscribe(consumer="payments", topics=handlers.TOPICS, handler=handlers.handle)
