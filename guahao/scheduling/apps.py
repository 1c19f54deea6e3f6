from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "guahao.scheduling"
    label = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from guahao.scheduling import facts

        facts.connect_signals()
