from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HisConfig(AppConfig):
    name = "guahao.his"
    label = "his"
    verbose_name = _("HIS integration")
    default_auto_field = "django.db.models.BigAutoField"
