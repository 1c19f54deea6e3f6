from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "guahao.notifications"
    label = "notifications"
    verbose_name = _("Messages")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guahao.booking import ports
        from guahao.notifications.services import NotifierForBooking

        ports.wire(notifier=NotifierForBooking())
