"""The console speaks Chinese: every page a hospital's day goes through, read in zh-Hans, shows no
English word of ours (headings, labels, filters, actions, messages, placeholders). Words that
are data (a provider's order number, a user name) and a few names kept in Latin letters (HIS,
CSV, Excel) are allowed; anything else fails with the page and the words."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, reverse

from guahao.booking.models import BlacklistEntry
from tests import factories as f
from tests.console.days import make_days
from tests.console.test_scope import _theirs

pytestmark = pytest.mark.django_db

# Names kept in Latin letters in Chinese text, as hospitals write them (WeChat's own names too).
KEPT = {
    "HIS",
    "CSV",
    "Excel",
    "TOTP",
    "URL",
    "English",
    "zh-hans",
    "esc",
    "Ctrl",
    "Command",
    "Mac",
    "AppID",
    "AppSecret",
}
# A quoted name in an example of a setting's JSON ("params", "thing1") is a key, and {date} a fact
# a message's wording names: neither is wording.
QUOTED_KEY = re.compile(r'"[A-Za-z0-9_.{}]+"|\{[a-z_]+\}')
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'’-]{2,}")


class _Text(HTMLParser):
    """What a reader sees: text outside scripts and styles, placeholders, titles, button values."""

    VOID = {"input", "img", "br", "hr", "meta", "link", "source", "col", "area", "base", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._open: list[bool] = []  # per open element: is it hidden text (a script, an icon's ligature)

    @property
    def _skip(self) -> bool:
        return any(self._open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        icon = "material-symbols" in (values.get("class") or "")
        # An element shown in English on purpose (a wording's English beside its Chinese), not the page.
        english = tag != "html" and (values.get("lang") or "").startswith("en")
        if tag not in self.VOID:
            # An icon is a font ligature: "chevron_right" is drawn as an arrow, never read.
            self._open.append(tag in ("script", "style", "code") or icon or english)  # code is not wording
        for name in ("placeholder", "title", "aria-label"):
            if values.get(name):
                self.parts.append(values[name] or "")
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _shown(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return QUOTED_KEY.sub(" ", " ".join(parser.parts))


def _data_words() -> set[str]:
    """Every word stored in the database: data, not the console's wording."""
    words: set[str] = set()
    for model in apps.get_models():
        names = [fl.name for fl in model._meta.concrete_fields if isinstance(fl, models.CharField | models.TextField)]
        for row in model._default_manager.values_list(*names)[:500] if names else []:
            for value in row:
                words.update(w.lower() for w in WORD.findall(str(value or "")))
    return words


def _pages(console: Client) -> list[str]:
    from guahao.catalog.models import Hospital

    first = Hospital.objects.order_by("pk").first()
    urls = [
        "/console/",
        "/console/stats/",
        f"/console/desk/?hospital={first.pk}",
        f"/console/till/?hospital={first.pk}",
    ]
    for model in admin.site._registry:
        opts = model._meta
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        try:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        except NoReverseMatch:
            pass
        row = model._default_manager.order_by("pk").last()
        if row is not None:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
    return urls


def test_every_console_page_of_a_days_work_reads_in_chinese():
    days = make_days()
    _theirs()  # one row of every kind, for every change page
    BlacklistEntry.objects.create(
        hospital=days.hospital,
        person_hash=days.r["r2"].person_hash,
        patient=days.r["r2"].patient,
        reason="no_shows",
        count=2,
        starts_at=days.r["r2"].booked_at,
        ends_at=days.r["r2"].booked_at.replace(year=days.r["r2"].booked_at.year + 1),
    ).causes.set([days.r["r2"]])
    f.staff_member("platform", "platform_admin")
    console = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert console.login(username="platform", password="pw-for-tests")
    data = _data_words()
    found: dict[str, set[str]] = {}
    listing = "/console/booking/registration/"
    r2 = days.r["r2"].pk
    pages = {url: console.get(url) for url in _pages(console)}
    pages[f"{listing}{r2}/slip/"] = console.get(f"{listing}{r2}/slip/")
    for action in ("cancel", "mark_no_show", "undo_no_show", "refund"):
        pages[f"{listing} {action}"] = console.post(listing, {"action": action, "_selected_action": [r2]})
    pages["lift"] = console.post("/console/booking/blacklistentry/", {"action": "lift", "_selected_action": [1]})
    for url, answer in pages.items():
        if url.endswith("/add/") and answer.status_code == 403:
            continue  # nobody adds those rows by hand
        assert answer.status_code == 200, (url, answer.status_code)
        english = {
            w
            for w in WORD.findall(_shown(answer.content.decode()))
            if w not in KEPT and w.lower() not in data and "_" not in w  # GUAHAO_HIS_KEY: a setting's name
        }
        if english:
            found[url] = english
    assert not found, "English on Chinese pages:\n" + "\n".join(f"{u}: {sorted(w)}" for u, w in found.items())


def test_the_english_switch_words_the_new_pages_in_english():
    days = make_days()
    f.staff_member("desk", "operator", days.hospital)
    console = Client()
    assert console.login(username="desk", password="pw-for-tests")
    console.post("/i18n/setlang/", {"language": "en", "next": "/console/"})
    r2 = days.r["r2"].pk
    expected = {
        "/console/": ["Clinics today", "No-shows so far", "Holds open"],
        "/console/stats/": ["By department", "By age at the visit", "Fill rate per clinic", "No-show rate"],
        f"/console/booking/registration/{r2}/change/": ["Timeline", "Undo the no-show", "No-show"],
        f"/console/booking/registration/{r2}/slip/?lang=en": ["Registration slip", "visit number"],
        "/console/core/auditentry/": ["Export CSV"],
    }
    for url, words in expected.items():
        page = console.get(url)
        assert page.status_code == 200, url
        text = _shown(page.content.decode())
        assert all(w in text for w in words), (url, [w for w in words if w not in text])
        assert "今日门诊" not in text and "时间线" not in text and "按科室" not in text, url
    # The patient's slip prints in Chinese whatever the console's language; English on its link.
    assert "就诊序号" in _shown(console.get(f"/console/booking/registration/{r2}/slip/").content.decode())
