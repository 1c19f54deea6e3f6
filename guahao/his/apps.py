from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HisConfig(AppConfig):
    name = "guahao.his"
    label = "his"
    verbose_name = _("HIS integration")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guahao.booking import ports
        from guahao.his import registry
        from guahao.his.ports import HisForBooking

        his = HisForBooking()
        ports.wire(his=his, write_backs=his, records=his)
        registry.connect_signals()
