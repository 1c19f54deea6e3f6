"""The console's waitlist pages (候补): each clinic's entries, the draws anyone can redo, every
entry's events, and removing an entry with a reason, by the roles that may."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.test import Client

from guahao.core import outbox
from guahao.notifications.models import Message
from guahao.scheduling.models import Schedule
from guahao.waitlist.models import WaitlistDraw, WaitlistEntry, WaitlistEvent
from tests import factories as f

pytestmark = pytest.mark.django_db
ENTRIES = "/console/waitlist/waitlistentry/"


def full_clinic(**rules):
    h = f.hospital(waitlist_places=5, **rules)
    dep = f.department(h)
    clinic = f.schedule(dep, f.doctor(dep), day=f.today() + dt.timedelta(days=2), slots_per_period=1)
    holds = []
    for _ in range(2):
        client = f.Api().login()
        _, hold = client.call("POST", "/holds", {"schedule_id": str(clinic.pk), "patient_id": client.add_patient()})
        holds.append((client, hold))
    return h, clinic, holds


def join(clinic, number: str | None = None) -> tuple[f.Api, WaitlistEntry]:
    client = f.Api().login()
    status, body = client.call(
        "POST", "/waitlist", {"schedule_id": str(clinic.pk), "patient_id": client.add_patient(number, name="王芳")}
    )
    assert status == 201, body
    return client, WaitlistEntry.objects.get(pk=body["id"])


def console(h, role: str) -> Client:
    f.staff_member(f"wl-{role}", role, h)
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert client.login(username=f"wl-{role}", password="pw-for-tests")
    return client


def test_a_clinics_entries_show_the_patient_masked_the_mode_and_where_each_stands():
    h, clinic, _ = full_clinic()
    number = f.id_number("19800101")
    _, entry = join(clinic, number)
    desk = console(h, "viewer")

    listing = desk.get(f"{ENTRIES}?schedule__id__exact={clinic.pk}").content.decode()
    assert f"王芳 ({number[:6]}********{number[-4:]})" in listing and number not in listing
    assert "候补中" in listing and "有号即直接预约（无需线上支付）" in listing
    detail = desk.get(f"{ENTRIES}{entry.pk}/change/").content.decode()
    assert "排在第 1 位" in detail and "申请候补" in detail  # where it stands, and its events, worded
    assert "候补方式: 有号即直接预约" in detail and "mode=" not in detail
    assert f"patient:{entry.account_id}" in detail  # who joined


def test_an_entry_the_patient_left_reads_so_to_staff():
    h, clinic, _ = full_clinic()
    patient, entry = join(clinic)
    assert patient.call("DELETE", f"/waitlist/{entry.pk}")[0] == 200
    detail = console(h, "viewer").get(f"{ENTRIES}{entry.pk}/change/").content.decode()
    assert "患者已退出候补 (waitlist.left)" in detail and "您已退出候补" not in detail
    assert "已结束" in detail and "ended.cancelled" not in detail


def test_an_operator_removes_an_entry_with_a_reason_the_patient_reads_and_the_events_name_them():
    h, clinic, _ = full_clinic()
    patient, entry = join(clinic)
    desk = console(h, "operator")
    form = {"action": "remove", "_selected_action": [entry.pk]}

    asked = desk.post(ENTRIES, form).content.decode()
    assert "移出候补" in asked and "王芳" in asked  # asks for the reason first
    no_reason = desk.post(ENTRIES, form | {"apply": "yes", "reason": "  "}).content.decode()
    assert "请填写原因" in no_reason
    entry.refresh_from_db()
    assert entry.status == "waiting" and Schedule.objects.get(pk=clinic.pk).waitlist_active == 1  # nothing changed

    done = desk.post(ENTRIES, form | {"apply": "yes", "reason": "同一就诊人重复候补"}, follow=True).content.decode()
    assert "已移出候补: 1" in done
    entry.refresh_from_db()
    assert (entry.status, entry.end_reason, entry.note, entry.ended_by) == (
        "cancelled",
        "waitlist.removed",
        "同一就诊人重复候补",
        "wl-operator",
    )
    ended = WaitlistEvent.objects.filter(entry=entry).order_by("pk").last()
    assert (ended.kind, ended.actor, ended.data["note"]) == ("ended.cancelled", "wl-operator", "同一就诊人重复候补")
    assert Schedule.objects.get(pk=clinic.pk).waitlist_active == 0
    outbox.deliver_all()  # the worker tells the patient
    _, messages = patient.call("GET", "/messages")
    assert messages[0]["kind"] == "waitlist.cancelled" and "同一就诊人重复候补" in messages[0]["body"]

    again = desk.post(ENTRIES, form | {"apply": "yes", "reason": "再次"}, follow=True).content.decode()
    assert "该候补已结束" in again  # refused, and it changed nothing
    assert WaitlistEvent.objects.filter(entry=entry, kind="ended.cancelled").count() == 1


@pytest.mark.parametrize("role", ["viewer", "finance"])
def test_roles_that_read_cannot_remove(role):
    h, clinic, _ = full_clinic()
    _, entry = join(clinic)
    desk = console(h, role)
    assert desk.get(ENTRIES).status_code == 200
    desk.post(ENTRIES, {"action": "remove", "_selected_action": [entry.pk], "apply": "yes", "reason": "x"})
    entry.refresh_from_db()
    assert entry.status == "waiting" and not WaitlistEvent.objects.filter(entry=entry, kind="ended.cancelled").exists()


def test_a_draw_reads_with_what_anyone_needs_to_redo_it():
    h, clinic, holds = full_clinic(waitlist_order="random")
    for _ in range(3):
        join(clinic)
    holder, hold = holds[0]
    holder.call("DELETE", f"/holds/{hold['id']}")
    while sum(outbox.deliver_all().values()):
        pass
    draw = WaitlistDraw.objects.get()
    assert random.Random(int(draw.seed)).choice(draw.candidates) == draw.chosen_id  # noqa: S311
    page = console(h, "viewer").get("/console/waitlist/waitlistdraw/").content.decode()
    line = f"random.Random({draw.seed}).choice({draw.candidates}) = {draw.chosen_id}"
    assert line in page and "与抽中的一致" in page
    booked = Message.objects.filter(kind__in=["registration.booked", "waitlist.booked"], channel="inbox")
    assert booked.count() == 1  # the chosen one was booked


def test_the_statistics_count_entries_joined_not_a_time_of_joining():
    h, clinic, _ = full_clinic()
    join(clinic)
    admin = console(h, "hospital_admin")
    exported = admin.get("/console/stats/", {"export": "waitlist"}).content.decode("utf-8-sig")
    assert exported.splitlines()[0].split(",")[:2] == ["日期", "申请候补"] and "申请时间" not in exported
