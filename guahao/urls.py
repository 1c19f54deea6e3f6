from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from guahao.api.metrics import metrics_view
from guahao.api.v1 import api
from guahao.core import health
from guahao.web import views as web_views

urlpatterns = [
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", metrics_view),
    path("api/v1/", api.urls),
    path("console/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page says.
    path("favicon.ico", RedirectView.as_view(url=static("web/icon.svg"), permanent=True)),
    # The language switch (console, web app): a signed-in patient's messages follow it (web.views).
    path("i18n/setlang/", web_views.set_language),
    path("i18n/", include("django.conf.urls.i18n")),
    path("kiosk/", include("guahao.web.kiosk")),  # the hospitals' self-service kiosks
    path("", include("guahao.web.urls")),
]
