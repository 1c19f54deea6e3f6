from __future__ import annotations

from unfold.apps import BasicAppConfig


class ConsoleUnfoldConfig(BasicAppConfig):
    """unfold's templates and styles, with the console's own admin site (second factor, roles)."""

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.admin import sites

        from guahao.console.site import ConsoleSite

        site = ConsoleSite()
        admin.site = site
        sites.site = site
