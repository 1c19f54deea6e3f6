from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "guahao.catalog"
    label = "catalog"
    verbose_name = _("Hospitals, departments and doctors")
    default_auto_field = "django.db.models.BigAutoField"
