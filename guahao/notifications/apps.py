from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "guahao.notifications"
    label = "notifications"
    verbose_name = _("Messages")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guahao.accounts import ports
        from guahao.core import outbox
        from guahao.notifications import events
        from guahao.notifications.login_codes import LoginCodesBySms

        outbox.subscribe(consumer=events.CONSUMER, topics=events.ROUTES, handler=events.handle)
        ports.wire(code_sender=LoginCodesBySms())
