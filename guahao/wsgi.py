import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guahao.settings")
application = get_wsgi_application()


def _freeze() -> None:
    """Load the URLconf (every view and schema it pulls in) and set what is loaded by now aside
    from the garbage collector: those objects live as long as the process. Otherwise its full
    collections walk them all, some 340,000, stopping every thread of the process for about
    0.1 s; one fell in each web process during a release-time crowd, and every answer queued
    behind it waited that much longer."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (imports the URLconf)
    gc.collect()
    gc.freeze()


_freeze()
