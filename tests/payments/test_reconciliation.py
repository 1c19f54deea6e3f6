"""A day of payments reconciled against the sandbox's statement, with differences planted."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from guahao.booking.models import Registration
from guahao.core import clock
from guahao.payments import reconciliation
from guahao.payments.models import Payment, PaymentStatus, ReconciliationDifference, ReconciliationRun, Refund
from guahao.payments.providers.registry import provider_named
from tests import factories as f
from tests.processes import free_port, paysim_process, post, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paysim_url(tmp_path):
    """A sandbox of this test's own: its statement holds only this test's day."""
    with paysim_process(tmp_path / "paysim.sqlite3") as url:
        yield url


@pytest.fixture
def schedule(sandbox):
    h = f.hospital(payment_required=True)
    dep = f.department(h)
    return f.schedule(dep, f.doctor(dep))


def paid(schedule) -> tuple[f.Api, Payment]:
    """A patient of their own pays for a hold; returns them once the payment is captured."""
    client = f.Api().login()
    patient = client.add_patient()
    status, hold = client.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": patient})
    assert status == 201, hold
    status, started = client.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "wechat"})
    assert status == 201, started
    assert post(started["pay_url"] + "/pay") == 200
    return client, wait_for(lambda: Payment.objects.filter(pk=started["payment_id"], status="paid").first())


def found(run: ReconciliationRun) -> set[tuple[str, str, str]]:
    return {(d.kind, d.entry, d.out_refund_no or d.out_trade_no) for d in run.differences.all()}


def test_a_clean_day_matches_to_the_fen(schedule):
    _, first = paid(schedule)
    client, second = paid(schedule)
    client.call("POST", f"/registrations/{second.registration_id}/cancel")
    refund = wait_for(lambda: Refund.objects.filter(status="succeeded").first())

    run = reconciliation.reconcile(provider_name="sandbox", day=clock.local_today("Asia/Shanghai"))
    assert (run.status, run.difference_count) == ("matched", 0)
    assert (run.their_lines, run.our_lines) == (3, 3)
    assert run.their_paid_fen == run.our_paid_fen == first.amount_fen + second.amount_fen
    assert run.their_refunded_fen == run.our_refunded_fen == refund.amount_fen


def test_every_planted_difference_is_found_and_nothing_else(schedule, sandbox, settings, tmp_path):
    day = clock.local_today("Asia/Shanghai")
    _, matched = paid(schedule)

    # Our amount was changed after the fact.
    _, altered = paid(schedule)
    Payment.objects.filter(pk=altered.pk).update(registration_fee_fen=0, consultation_fee_fen=5000, amount_fen=5000)

    # We have a paid payment the provider never saw.
    ghost = f.another_payment(matched, "GHNOTATTHEPROVIDER01", status=PaymentStatus.PAID, paid_at=clock.now())

    # The provider took money for an order we never made.
    stranger = provider_named("sandbox").order_create(
        out_trade_no="GHNOTOURS0000000001", amount_fen=300, description="?", notify_url="http://127.0.0.1:9/"
    )
    assert post(stranger.pay_url + "/pay") == 200

    # Refunded at the provider, but its notification never reached us.
    client, refunded = paid(schedule)
    # The refund is still processing when the provider answers its creation (were it decided at
    # once, that answer alone would tell us), and its notification is lost.
    sandbox(lost=1.0, refund_delay_ms=30_000)
    client.call("POST", f"/registrations/{refunded.registration_id}/cancel")
    refund = Refund.objects.get(payment=refunded)
    wait_for(
        lambda: (
            provider_named("sandbox")
            .refund_query(out_trade_no=refunded.out_trade_no, out_refund_no=refund.out_refund_no)
            .status
            == "SUCCESS"
        )
    )

    # Paid at the provider, but the notification is still lost on its way.
    _held = f.Api().login()
    status, hold = _held.call("POST", "/holds", {"schedule_id": str(schedule.pk), "patient_id": _held.add_patient()})
    _, started = _held.call("POST", f"/holds/{hold['id']}/confirm", {"payment_method": "wechat"})
    post(started["pay_url"] + "/pay")
    unnoticed = Payment.objects.get(pk=started["payment_id"])
    assert unnoticed.status == "created"

    run = reconciliation.reconcile(provider_name="sandbox", day=day)
    expected = {
        ("amount", "payment", altered.out_trade_no),
        ("missing_there", "payment", ghost.out_trade_no),
        ("missing_here", "payment", "GHNOTOURS0000000001"),
        ("status", "refund", refund.out_refund_no),
        ("status", "payment", unnoticed.out_trade_no),
    }
    assert found(run) == expected
    assert run.status == "differences" and run.difference_count == 5
    amount = run.differences.get(kind="amount")
    assert (amount.our_amount_fen, amount.their_amount_fen, amount.hospital_id) == (5000, 5100, schedule.hospital_id)
    assert run.differences.get(kind="missing_here").hospital_id is None

    # Re-running the day replaces its result: the same differences, once each.
    again = reconciliation.reconcile(provider_name="sandbox", day=day)
    assert again.pk == run.pk and again.runs == 2
    assert found(again) == expected
    assert ReconciliationDifference.objects.count() == 5

    # Staff export them from the console; the CSV says the same in yuan.
    User.objects.create_superuser("finance", password="pw-for-tests")
    console = Client()
    console.login(username="finance", password="pw-for-tests")
    response = console.post(
        "/console/payments/reconciliationrun/", {"action": "export_csv", "_selected_action": [run.pk]}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {(r["difference"], r["entry"], r["out_refund_no"] or r["out_trade_no"]) for r in rows} == expected
    assert {r["their_amount_yuan"] for r in rows if r["difference"] == "amount"} == {"51.00"}
    page = console.get(f"/console/payments/reconciliationrun/{run.pk}/change/")
    assert page.status_code == 200 and ghost.out_trade_no in page.content.decode()

    # The command staff run by hand prints the same and writes the same CSV.
    out = io.StringIO()
    call_command("reconcile", "--day", day.isoformat(), "--csv", str(tmp_path / "d.csv"), stdout=out)
    assert "5 differences" in out.getvalue()
    assert len(list(csv.DictReader((tmp_path / "d.csv").open()))) == 5
    assert Registration.objects.filter(status="refunding").count() == 1  # nothing was changed by reconciling


def test_hospital_staff_see_only_their_hospitals_differences(schedule):
    day = clock.local_today("Asia/Shanghai")
    _, ours = paid(schedule)
    other = f.hospital(payment_required=True)
    _, theirs = paid(f.schedule(f.department(other)))
    Payment.objects.update(registration_fee_fen=0, consultation_fee_fen=1, amount_fen=1)
    assert reconciliation.reconcile(provider_name="sandbox", day=day).difference_count == 2

    f.staff_member("clerk", "finance", schedule.hospital)
    console = Client()
    console.login(username="clerk", password="pw-for-tests")
    page = console.get("/console/payments/reconciliationdifference/").content.decode()
    assert ours.out_trade_no in page and theirs.out_trade_no not in page
    # Worded for finance, with the order one click away.
    table = page.split('id="result_list"')[1].split("</table>")[0]
    assert "支付单" in table and "已支付" in table and ">payment<" not in table and ">paid<" not in table
    assert f'/console/booking/registration/{ours.registration_id}/change/"' in table
    assert console.get("/console/payments/reconciliationrun/").status_code == 403


def test_finance_marks_a_difference_handled_with_what_was_done_and_a_new_run_keeps_it(schedule):
    from guahao.core.models import AuditEntry

    day = clock.local_today("Asia/Shanghai")
    _, differs = paid(schedule)
    _, settles = paid(schedule)
    Payment.objects.filter(pk__in=[differs.pk, settles.pk]).update(
        registration_fee_fen=0, consultation_fee_fen=1, amount_fen=1
    )
    assert reconciliation.reconcile(provider_name="sandbox", day=day).difference_count == 2
    f.staff_member("cashier", "finance", schedule.hospital)
    console = Client()
    console.login(username="cashier", password="pw-for-tests")
    listed = "/console/payments/reconciliationdifference/"
    difference = ReconciliationDifference.objects.get(out_trade_no=differs.out_trade_no)
    chosen = {"action": "handle", "_selected_action": [difference.pk]}

    asked = console.post(listed, chosen).content.decode()
    assert "做了什么" in asked and difference.out_trade_no in asked  # the note is asked for
    refused = console.post(listed, chosen | {"apply": "yes", "note": "  "}).content.decode()
    assert 'role="alert"' in refused
    assert ReconciliationDifference.objects.get(pk=difference.pk).handled_at is None

    console.post(listed, chosen | {"apply": "yes", "note": "已与渠道核实，订单金额以渠道为准"})
    handled = ReconciliationDifference.objects.get(pk=difference.pk)
    assert (handled.handled_by, handled.note) == ("cashier", "已与渠道核实，订单金额以渠道为准")
    entry = AuditEntry.objects.get(action="reconciliation.handled")
    assert (entry.actor, entry.target_id, entry.reason) == ("cashier", str(difference.pk), handled.note)
    to_handle = console.get(listed, {"handled": "no"}).content.decode()
    assert settles.out_trade_no in to_handle and differs.out_trade_no not in to_handle
    assert "已与渠道核实" in console.get(listed, {"handled": "yes"}).content.decode()

    # The day reconciled again: the difference still there keeps finance's word on it.
    Payment.objects.filter(pk=settles.pk).update(
        consultation_fee_fen=settles.consultation_fee_fen,
        registration_fee_fen=settles.registration_fee_fen,
        amount_fen=settles.amount_fen,
    )
    assert reconciliation.reconcile(provider_name="sandbox", day=day).difference_count == 1
    again = ReconciliationDifference.objects.get()
    assert (again.out_trade_no, again.handled_by, again.note) == (differs.out_trade_no, "cashier", handled.note)
    answer = console.post(
        listed, {"action": "handle", "_selected_action": [again.pk], "apply": "yes", "note": "再次"}, follow=True
    )
    assert "该对账差异已标记为已处理" in answer.content.decode()  # once only: a second mark is refused
    assert ReconciliationDifference.objects.get().note == handled.note


@pytest.mark.clock("10:00")
def test_days_whose_statement_could_not_be_fetched_are_tried_again(sandbox, settings):
    today = clock.local_today("Asia/Shanghai")
    week = [today - dt.timedelta(days=n) for n in range(reconciliation.CATCH_UP_DAYS, 0, -1)]
    reachable = settings.PAYSIM_URL
    settings.PAYSIM_URL = f"http://127.0.0.1:{free_port()}"
    assert [(r.day, r.status) for r in reconciliation.reconcile_due()] == [(d, "failed") for d in week]

    settings.PAYSIM_URL = reachable
    assert [(r.day, r.status) for r in reconciliation.reconcile_due()] == [(d, "matched") for d in week]
    assert reconciliation.reconcile_due() == []  # every day done; today's statement is not ready yet
    assert ReconciliationRun.objects.filter(day=week[-1]).get().runs == 2
