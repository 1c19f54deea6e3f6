from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from guahao.catalog.models import Hospital


def home(request: HttpRequest) -> HttpResponse:
    """The entry page: hospitals, and where the API and the console are."""
    return render(request, "web/home.html", {"hospitals": Hospital.objects.filter(is_active=True)})
