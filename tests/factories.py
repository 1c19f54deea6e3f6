"""Builders for test data: small, explicit, each returning what a test needs to look at."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from typing import Any

from django.test import Client

from guahao.accounts import consent, idcard
from guahao.accounts import services as accounts
from guahao.accounts.models import Account, Patient
from guahao.catalog import services as catalog
from guahao.catalog.models import Department, Doctor, Fee, Hospital, Title
from guahao.core import clock
from guahao.payments.models import Payment
from guahao.scheduling.models import RuleSet, Schedule, Session
from guahao.scheduling.services import schedule_create

TZ = "Asia/Shanghai"
_seq = itertools.count(1)
_rng = random.Random(7)
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(birth: str | None = None) -> str:
    """A valid GB 11643 number (checksum included), different on every call."""
    birth = birth or f"{_rng.randint(1950, 2010)}{_rng.randint(1, 12):02d}{_rng.randint(1, 28):02d}"
    body = f"110105{birth}{next(_seq) % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def phone() -> str:
    """A mainland mobile number, different on every call."""
    return f"139{next(_seq):08d}"


def today() -> dt.date:
    return clock.local_today(TZ)


def hospital(*, timezone: str = TZ, **rules: Any) -> Hospital:
    n = next(_seq)
    h = Hospital.objects.create(code=f"h{n}", name=f"测试医院{n}", name_en=f"Test Hospital {n}", timezone=timezone)
    Fee.objects.create(hospital=h, title=Title.CHIEF, registration_fee_fen=100, consultation_fee_fen=5000)
    Fee.objects.create(hospital=h, title=Title.GENERAL, registration_fee_fen=0, consultation_fee_fen=1000)
    RuleSet.objects.create(hospital=h, **rules)
    return h


def department(h: Hospital, name: str = "心血管内科", parent: Department | None = None) -> Department:
    return catalog.department_create(hospital=h, name=name, name_en="Cardiology", parent=parent)


def doctor(dep: Department, name: str = "王建华", title: str = Title.CHIEF) -> Doctor:
    return catalog.doctor_create(hospital=dep.hospital, department=dep, name=name, title=title, specialty="高血压")


def schedule(
    dep: Department,
    doc: Doctor | None = None,
    *,
    day: dt.date | None = None,
    session: str = Session.AM,
    start: dt.time = dt.time(8, 0),
    end: dt.time = dt.time(9, 0),
    slots_per_period: int = 5,
    platform_share_percent: int = 100,
    phone_share_percent: int | None = None,
) -> Schedule:
    """By default tomorrow 08:00-09:00: two periods of five online slots each (ten in all)."""
    return schedule_create(
        department=dep,
        doctor=doc,
        date=day or today() + dt.timedelta(days=1),
        session=session,
        start=start,
        end=end,
        slots_per_period=slots_per_period,
        platform_share_percent=platform_share_percent,
        phone_share_percent=phone_share_percent,
    )


def account() -> Account:
    return Account.objects.create(phone=phone(), created_at=clock.now())


def patient(acc: Account, *, relation: str = "other", number: str | None = None, name: str = "李秀英") -> Patient:
    """A patient who agreed to the consent text; a child under 14 with a parent as guardian."""
    number = number or id_number()
    parsed = idcard.parse(number)
    child = parsed is not None and accounts.guardian_needed(parsed.birth_date)
    return accounts.patient_create(
        account=acc,
        name=name,
        id_number=number,
        phone=acc.phone,
        relation=relation,
        consent_version=consent.TEXT_VERSION,
        guardian_name="李建国" if child else "",
    )


def another_payment(of: Payment, out_trade_no: str, **fields: Any) -> Payment:
    """A second payment row for the same hold and patient as ``of`` (same amount unless told),
    as a race at the provider or a mistake in our books would leave it."""
    values: dict[str, Any] = {
        "provider": "sandbox",
        "method": "wechat",
        "registration_fee_fen": of.registration_fee_fen,
        "consultation_fee_fen": of.consultation_fee_fen,
        "amount_fen": of.amount_fen,
        "created_at": clock.now(),
    }
    return Payment.objects.create(
        hold=of.hold, account=of.account, hospital=of.hospital, out_trade_no=out_trade_no, **(values | fields)
    )


class Api:
    """A patient's client for the JSON API, logged in through SMS like a real one."""

    def __init__(self, client: Client | None = None, language: str = "zh-hans") -> None:
        self.client = client or Client()
        self.token: str | None = None
        self.language = language

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
        extra = {"HTTP_ACCEPT_LANGUAGE": self.language}
        if self.token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        extra.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
        sent: dict[str, Any] = {}  # no body: none sent (the test client would send the text "None")
        if body is not None:
            sent["data"] = body if isinstance(body, str | bytes) else json.dumps(body)
        response = getattr(self.client, method.lower())(
            "/api/v1" + path, content_type="application/json", **sent, **extra
        )
        raw = response.content.decode()
        return response.status_code, (json.loads(raw) if raw else None)

    def login(self, number: str | None = None) -> Api:
        number = number or phone()
        _, sent = self.call("POST", "/auth/sms-code", {"phone": number})
        status, body = self.call("POST", "/auth/login", {"phone": number, "code": sent["dev_code"]})
        assert status == 200, body
        self.token = body["token"]
        self.account_id = body["account_id"]
        return self

    def add_patient(self, number: str | None = None, relation: str = "self", name: str = "张伟") -> str:
        status, body = self.call(
            "POST",
            "/patients",
            {"name": name, "id_number": number or id_number(), "phone": "13912345678", "relation": relation},
        )
        assert status == 201, body
        return body["id"]


def staff_member(username: str, role: str, h: Hospital | None = None, password: str = "pw-for-tests") -> Any:
    """A staff member with ``role`` at ``h`` (the platform admin at none), given by the platform."""
    from django.contrib.auth import get_user_model

    from guahao.accounts import staff

    User = get_user_model()
    root = User.objects.filter(username="root").first() or User.objects.create_superuser("root", password=password)
    user = User.objects.create_user(username, password=password, is_staff=True)
    staff.staff_role_set(by=root, user=user, hospital=h, role=role)
    return user


def paid(
    registration: Any = None,
    *,
    fen: int,
    number: str,
    method: str = "wechat",
    provider: str = "sandbox",
    at: dt.datetime | None = None,
    account: Account | None = None,
    hospital: Hospital | None = None,
) -> Payment:
    """A payment that arrived (``at``, now by default): of ``registration`` (and its hold) when
    given, else of ``account`` at ``hospital``; the whole ``fen`` is the consultation fee."""
    at = at or clock.now()
    return Payment.objects.create(
        hold=getattr(registration, "hold", None),
        registration=registration,
        account=account or registration.account,
        hospital=hospital or registration.hospital,
        provider=provider,
        method=method,
        out_trade_no=number,
        registration_fee_fen=0,
        consultation_fee_fen=fen,
        amount_fen=fen,
        status="paid",
        created_at=at,
        paid_at=at,
    )
