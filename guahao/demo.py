"""Demo data: two hospitals, a three-level department tree, doctors, 14 days of schedules.

仁和医院 charges a registration and a consultation fee (payment step) and has two campuses;
市第二人民医院 has made registration free of charge (no payment step). Both are connected to the
HIS simulator: 仁和医院 in ``synced`` mode, 市第二人民医院 in ``realtime`` mode (``guahao demo``
loads them into the simulator when it starts it). A few expert schedules
are already full (booked through the booking services by demo patients) and one is suspended.
仁和医院 (a draw, paid after a hold) and 康宁社区医院 (first come, booked at once) run a waitlist
(候补): each has a clinic of the coming days booked full, with two patients waiting for it.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation
from pypinyin import lazy_pinyin

from guahao.accounts import consent, idcard, phones, staff
from guahao.accounts import services as accounts
from guahao.accounts.models import Account
from guahao.accounts.roles import Role
from guahao.booking import services as booking
from guahao.catalog import services as catalog
from guahao.catalog.models import Campus, Department, Fee, Hospital, Title
from guahao.core import clock
from guahao.his.models import HisConnection, HisMode
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import (
    CalendarDay,
    CalendarDayKind,
    CancelPolicy,
    MedicalRecordMode,
    RuleSet,
    Schedule,
    ScheduleStatus,
    Session,
    WaitlistOrder,
    WaitlistPayment,
)
from guahao.scheduling.services import schedule_create
from guahao.waitlist import services as waitlist

AM = (dt.time(8, 0), dt.time(12, 0))
PM = (dt.time(13, 30), dt.time(17, 0))
EXPERT_AM = (dt.time(8, 0), dt.time(10, 0))
DAYS = 14

# (name, English name, children); a child with no children of its own is a leaf (bookable).
RENHE_TREE: list = [
    (
        "内科",
        "Internal Medicine",
        [
            (
                "心血管内科",
                "Cardiology",
                [
                    ("心血管内科普通门诊", "Cardiology Clinic", []),
                    ("高血压专病门诊", "Hypertension Clinic", []),
                    ("心律失常门诊", "Arrhythmia Clinic", []),
                ],
            ),
            ("消化内科", "Gastroenterology", []),
            ("呼吸与危重症医学科", "Respiratory Medicine", []),
            (
                "内分泌科",
                "Endocrinology",
                [
                    ("糖尿病专病门诊", "Diabetes Clinic", []),
                    ("甲状腺门诊", "Thyroid Clinic", []),
                ],
            ),
            ("神经内科", "Neurology", []),
            ("肾内科", "Nephrology", []),
        ],
    ),
    (
        "外科",
        "Surgery",
        [
            ("普通外科", "General Surgery", []),
            (
                "骨科",
                "Orthopaedics",
                [
                    ("脊柱外科", "Spine Surgery", []),
                    ("关节外科", "Joint Surgery", []),
                    ("运动医学门诊", "Sports Medicine", []),
                ],
            ),
            ("泌尿外科", "Urology", []),
            ("神经外科", "Neurosurgery", []),
        ],
    ),
    (
        "妇产科",
        "Obstetrics and Gynaecology",
        [
            ("妇科", "Gynaecology", []),
            ("产科", "Obstetrics", []),
        ],
    ),
    (
        "儿科",
        "Paediatrics",
        [
            ("儿科普通门诊", "Paediatrics Clinic", []),
            ("小儿呼吸门诊", "Paediatric Respiratory", []),
        ],
    ),
    (
        "五官科",
        "Eye, ENT and Dental",
        [
            ("眼科", "Ophthalmology", []),
            ("耳鼻咽喉头颈外科", "ENT", []),
            ("口腔科", "Stomatology", []),
        ],
    ),
    ("中医科", "Traditional Chinese Medicine", []),
]

SECOND_TREE: list = [
    (
        "内科",
        "Internal Medicine",
        [
            ("心血管内科", "Cardiology", []),
            ("消化内科", "Gastroenterology", []),
            ("呼吸内科", "Respiratory Medicine", []),
        ],
    ),
    (
        "外科",
        "Surgery",
        [
            ("普通外科", "General Surgery", []),
            ("骨科", "Orthopaedics", []),
        ],
    ),
    ("儿科", "Paediatrics", []),
    ("妇科", "Gynaecology", []),
    ("全科医学科", "General Practice", []),
    ("口腔科", "Stomatology", []),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "霞",
    "平",
    "刚",
    "桂英",
    "建华",
    "志强",
    "晓东",
    "海燕",
    "文博",
    "思远",
    "雅琴",
    "国栋",
    "立新",
    "振华",
    "慧敏",
    "子健",
    "春梅",
    "德明",
]

SPECIALTIES = {
    "Cardiology": ("冠心病、高血压、心力衰竭的诊治", "coronary disease, hypertension, heart failure"),
    "Hypertension": ("难治性高血压、继发性高血压", "resistant and secondary hypertension"),
    "Arrhythmia": ("房颤、早搏、起搏器随访", "atrial fibrillation, pacemaker follow-up"),
    "Gastro": ("胃肠镜检查、慢性胃炎、肝病", "endoscopy, gastritis, liver disease"),
    "Respiratory": ("慢阻肺、哮喘、肺结节", "COPD, asthma, lung nodules"),
    "Diabetes": ("糖尿病及并发症管理", "diabetes and its complications"),
    "Thyroid": ("甲亢、甲减、甲状腺结节", "thyroid disorders and nodules"),
    "Neurology": ("脑血管病、头痛、癫痫", "stroke, headache, epilepsy"),
    "Nephrology": ("慢性肾病、肾炎、透析", "chronic kidney disease, dialysis"),
    "General Surgery": ("甲状腺、乳腺、疝气手术", "thyroid, breast and hernia surgery"),
    "Spine": ("颈椎病、腰椎间盘突出", "cervical and lumbar disc disease"),
    "Joint": ("膝髋关节置换、关节炎", "knee and hip replacement, arthritis"),
    "Sports": ("运动损伤、韧带修复", "sports injuries, ligament repair"),
    "Urology": ("泌尿系结石、前列腺疾病", "urinary stones, prostate disease"),
    "Neurosurgery": ("脑肿瘤、脑外伤", "brain tumours, head injury"),
    "Gynaecology": ("妇科炎症、子宫肌瘤", "gynaecological infections, fibroids"),
    "Obstetrics": ("产前检查、高危妊娠", "antenatal care, high-risk pregnancy"),
    "Paediatric": ("小儿发热、咳嗽、生长发育", "fever, cough, growth in children"),
    "Ophthalmology": ("白内障、青光眼、近视防控", "cataract, glaucoma, myopia"),
    "ENT": ("鼻炎、中耳炎、咽喉疾病", "rhinitis, otitis, throat disease"),
    "Stomatology": ("牙体牙髓、口腔修复", "endodontics, prosthodontics"),
    "Chinese": ("中医内科调理、针灸", "herbal medicine, acupuncture"),
    "General Practice": ("常见病、慢病随访", "common illness, chronic care"),
}

TITLES = [Title.ATTENDING, Title.ASSOCIATE_CHIEF, Title.CHIEF, Title.ATTENDING, Title.ASSOCIATE_CHIEF]


def _specialty(name_en: str) -> tuple[str, str]:
    for key, value in SPECIALTIES.items():
        if key.lower() in name_en.lower():
            return value
    return ("常见病、多发病", "common conditions")


def _tree(hospital: Hospital, nodes: list, campus: Campus | None, parent: Department | None = None) -> list[Department]:
    leaves = []
    for i, (name, name_en, children) in enumerate(nodes):
        floor = 2 + i % 5
        dep = catalog.department_create(
            hospital=hospital,
            parent=parent,
            name=name,
            name_en=name_en,
            campus=campus,
            sort=i,
            location=f"门诊楼{floor}层" if campus is None else f"{campus.name} 门诊楼{floor}层",
        )
        leaves.extend(_tree(hospital, children, campus, dep) if children else [dep])
    return leaves


def _patient_add(*, account: Account, name: str, id_number: str, phone: str, relation: str = "self") -> Any:
    """A demo patient who agreed to the current consent text; a child under 14 added by a parent
    (named without drawing from the generator, so the demo's data stay as they were)."""
    parsed = idcard.parse(id_number)
    child = parsed is not None and accounts.guardian_needed(parsed.birth_date)
    return accounts.patient_create(
        account=account,
        name=name,
        id_number=id_number,
        phone=phone,
        relation=relation,
        consent_version=consent.TEXT_VERSION,
        channel="demo",
        guardian_name=name[0] + "建国" if child else "",
        guardian_relation="parent" if child else "",
    )


def _id_number(rng: random.Random, born: str | None = None) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    born = born or f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = f"110105{born}{rng.randint(0, 999):03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]


# The demo platform admin's second factor: add this key to an authenticator app (or run
# `oathtool --totp -b M52WC2DBN4WWIZLNN4WTEZTBFVVWK6JB`); the README lists it.
DEMO_TOTP_KEY = "67756168616f2d64656d6f2d3266612d6b657921"
# One staff member of each hospital role at 仁和医院 (password guahao-demo, no second factor until
# they enrol one).
DEMO_HOSPITAL_STAFF = [
    ("renhe", Role.HOSPITAL_ADMIN),
    ("renhe-operator", Role.OPERATOR),
    ("renhe-finance", Role.FINANCE),
    ("renhe-viewer", Role.VIEWER),
]


# The demo's self-service kiosk at 仁和医院: open /kiosk/setup?token=<this> (the README lists it).
DEMO_KIOSK_TOKEN = "kd_guahao-demo-renhe-hall-1"  # noqa: S105 - the demo's published token, like its passwords


def _kiosk() -> None:
    from guahao.accounts import kiosks

    kiosks.kiosk_device_with_token(
        hospital=Hospital.objects.get(code="renhe"), name="门诊大厅 1号机", key=DEMO_KIOSK_TOKEN, by="demo"
    )


def _staff() -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    User = get_user_model()
    admin = User.objects.filter(username="admin").first()
    if admin is None:
        admin = User.objects.create_superuser("admin", "admin@example.org", "guahao-demo")
        staff.staff_role_set(by=admin, user=admin, hospital=None, role=Role.PLATFORM_ADMIN)
        TOTPDevice.objects.create(user=admin, name="demo", key=DEMO_TOTP_KEY, confirmed=True)
    for code, people in (("renhe", DEMO_HOSPITAL_STAFF), ("kangning", DEMO_KANGNING_STAFF)):
        hospital = Hospital.objects.get(code=code)
        for username, role in people:
            if not User.objects.filter(username=username).exists():
                user = User.objects.create_user(username, f"{username}@example.org", "guahao-demo", is_staff=True)
                staff.staff_role_set(by=admin, user=user, hospital=hospital, role=role)


def _hospitals(rng: random.Random) -> list[tuple[Hospital, list[Department], Campus | None]]:
    renhe = Hospital.objects.create(
        code="renhe",
        name="仁和医院",
        name_en="Renhe Hospital",
        grade="三级甲等",
        address="北京市东城区示范路1号",
        phone="010-60000001",
        notice="1. 实行实名制预约挂号，请携带就诊人身份证件就诊。\n2. 请按预约时段提前30分钟到达，在门诊大厅自助机或分诊台签到。",
        notice_en="1. Registration is real-name: bring the patient's ID document.\n2. Arrive 30 minutes before your time and check in at a kiosk in the outpatient hall or at the triage desk.",
    )
    main = Campus.objects.create(hospital=renhe, name="本部", name_en="Main campus", address="北京市东城区示范路1号")
    Campus.objects.create(hospital=renhe, name="东院区", name_en="East campus", address="北京市朝阳区康复路88号")
    second = Hospital.objects.create(
        code="second",
        name="市第二人民医院",
        name_en="Second People's Hospital",
        grade="三级乙等",
        address="北京市西城区民安街20号",
        phone="010-60000002",
        notice="本院已取消挂号费，预约免费，诊查费就诊时在院内支付。请按预约时段提前15分钟到达。",
        notice_en="Registration is free of charge; the consultation fee is paid at the visit. Please arrive 15 minutes early.",
    )
    fees = {
        renhe: {
            Title.GENERAL: (100, 1000),
            Title.ATTENDING: (100, 2000),
            Title.ASSOCIATE_CHIEF: (100, 3000),
            Title.CHIEF: (100, 5000),
            Title.RENOWNED: (100, 10000),
        },
        second: {
            Title.GENERAL: (0, 800),
            Title.ATTENDING: (0, 1200),
            Title.ASSOCIATE_CHIEF: (0, 2000),
            Title.CHIEF: (0, 3000),
            Title.RENOWNED: (0, 6000),
        },
    }
    for hospital, table in fees.items():
        for title, (reg, consult) in table.items():
            Fee.objects.create(hospital=hospital, title=title, registration_fee_fen=reg, consultation_fee_fen=consult)
    RuleSet.objects.create(
        hospital=renhe,
        release_time=dt.time(7, 0),
        days_ahead=14,
        hold_minutes=15,
        max_active_holds=1,
        cancel_policy=CancelPolicy.DAY_BEFORE,
        medical_record_mode=MedicalRecordMode.AUTO_CREATE,
        payment_required=True,
        # 候补: ten places per clinic, a recorded draw (anti-scalper), held for two hours to pay.
        waitlist_places=10,
        waitlist_order=WaitlistOrder.RANDOM,
        waitlist_payment=WaitlistPayment.PAY_AFTER_HOLD,
        waitlist_confirm_minutes=120,
    )
    RuleSet.objects.create(
        hospital=second,
        release_time=dt.time(8, 0),
        days_ahead=7,
        hold_minutes=10,
        max_active_holds=2,
        # Nothing is paid online here, so a patient may give the slot back until the clinic opens
        # (the other demo hospital shows the day-before rule).
        cancel_policy=CancelPolicy.HOURS_BEFORE,
        cancel_hours_before=0,
        medical_record_mode=MedicalRecordMode.AT_VISIT,
        payment_required=False,
    )
    return [(renhe, _tree(renhe, RENHE_TREE, main), main), (second, _tree(second, SECOND_TREE, None), None)]


def _doctor(rng: random.Random, dep: Department, title: str, specialty: tuple[str, str], *, years: tuple[int, int]):  # type: ignore[no-untyped-def]
    """A doctor of a made-up name, with the department's specialty and years of practice."""
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    practice = rng.randint(*years)
    with translation.override("en"):
        title_en = str(Title(title).label)
    return catalog.doctor_create(
        hospital=dep.hospital,
        department=dep,
        name=name,
        title=title,
        name_en=" ".join(p.capitalize() for p in lazy_pinyin(name)),
        specialty=specialty[0],
        specialty_en=specialty[1],
        intro=f"{dep.hospital.name}{dep.name}{Title(title).label}，从事临床工作{practice}年。",
        intro_en=f"{title_en} of {dep.name_en} at {dep.hospital.name_en}, {practice} years in clinical practice; "
        f"sees patients for {specialty[1]}.",
    )


@transaction.atomic
def _catalog_and_schedules(rng: random.Random) -> list:
    today = clock.local_today("Asia/Shanghai")
    experts = []
    for hospital, leaves, _campus in _hospitals(rng):
        for li, dep in enumerate(leaves):
            spec, spec_en = _specialty(dep.name_en)
            count = 2 if hospital.code == "renhe" else 1 + li % 2
            for k in range(count):
                expert = k == 1 and li % 4 == (0 if hospital.code == "renhe" else 1)
                title = Title.RENOWNED if expert else TITLES[(li + k) % len(TITLES)]
                doctor = _doctor(rng, dep, title, (spec, spec_en), years=(8, 30))
                workdays = {(li + k + j * 2) % 5 for j in range(1 if title == Title.RENOWNED else 2)}
                for d in range(DAYS):
                    day = today + dt.timedelta(days=d)
                    if day.weekday() not in workdays:
                        continue
                    if title == Title.RENOWNED:
                        s = schedule_create(
                            department=dep,
                            doctor=doctor,
                            date=day,
                            session=Session.AM,
                            start=EXPERT_AM[0],
                            end=EXPERT_AM[1],
                            slots_per_period=2,
                            platform_share_percent=50,
                        )
                        experts.append(s)
                        continue
                    session, (start, end) = (Session.AM, AM) if (k + d) % 2 == 0 else (Session.PM, PM)
                    schedule_create(department=dep, doctor=doctor, date=day, session=session, start=start, end=end)
            if li % 3 == 0:  # a general clinic (普通门诊) every day, weekends included
                for d in range(DAYS):
                    day = today + dt.timedelta(days=d)
                    for session, (start, end) in ((Session.AM, AM), (Session.PM, PM)):
                        schedule_create(
                            department=dep,
                            doctor=None,
                            date=day,
                            session=session,
                            start=start,
                            end=end,
                            slots_per_period=4,
                            platform_share_percent=50,
                        )
    return experts


def _fill(schedules: list, rng: random.Random) -> None:
    """Book up to three expert schedules of the coming days full, through the booking services.

    Not today's: the demo (and its test) must still show them full later the same day. The six
    days after today hold every weekday but today's, so the two experts of 市第二人民医院, who
    work on different weekdays, always give at least one, released (seven days ahead) at any hour.
    """
    now = clock.now()
    today = clock.local_today("Asia/Shanghai")
    first, last = today + dt.timedelta(days=1), today + dt.timedelta(days=6)
    n = 0
    for schedule in [s for s in schedules if s.hospital.code == "second" and first <= s.date <= last][:3]:
        free = schedule.slots.filter(pool="platform", state="free").count()
        for _ in range(free):
            n += 1
            phone = f"1380000{n:04d}"
            account = Account.objects.create(**phones.columns(phone), created_at=now)
            patient = _patient_add(
                account=account,
                name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                id_number=_id_number(rng),
                phone=phone,
                relation="self",
            )
            hold = booking.hold_create(account=account, patient=patient, schedule=schedule)
            booking.hold_confirm(hold=hold)


# 康宁社区医院 has no HIS: its clinics come from weekly templates, generated at load (and every
# hour after by the worker, up to the day entering its release window).
KANGNING_TREE: list = [
    ("全科", "General Practice", []),
    ("内科", "Internal Medicine", []),
    ("儿科", "Pediatrics", []),
    ("口腔科", "Stomatology", []),
]
DEMO_KANGNING_STAFF = [("kangning", Role.HOSPITAL_ADMIN), ("kangning-desk", Role.OPERATOR)]


def _kangning(rng: random.Random) -> None:
    """A hospital without a HIS, run from the console: weekly templates (a general clinic every
    weekday morning, each doctor on two half days), a holiday in the calendar, and two weeks of
    clinics generated from them."""
    hospital = Hospital.objects.create(
        code="kangning",
        name="康宁社区医院",
        name_en="Kangning Community Hospital",
        grade="一级甲等",
        address="北京市海淀区康宁路6号",
        phone="010-60000003",
        notice="本院为社区医院，预约免费，诊查费就诊时支付。未用完的线上号源于就诊前一天17:00转为窗口号源。",
        notice_en="A community hospital: booking is free and the consultation fee is paid at the visit. Online "
        "numbers not taken by 17:00 the day before go to the window.",
    )
    for title, consult in ((Title.GENERAL, 500), (Title.ATTENDING, 800), (Title.ASSOCIATE_CHIEF, 1500)):
        Fee.objects.create(hospital=hospital, title=title, registration_fee_fen=0, consultation_fee_fen=consult)
    RuleSet.objects.create(
        hospital=hospital,
        release_time=dt.time(7, 30),
        days_ahead=7,
        hold_minutes=10,
        max_active_holds=2,
        platform_share_percent=70,
        pool_return_time=dt.time(17, 0),
        cancel_policy=CancelPolicy.HOURS_BEFORE,
        cancel_hours_before=2,
        medical_record_mode=MedicalRecordMode.AT_VISIT,
        payment_required=False,
        # 候补: five places per clinic, first come first served, booked at once (nothing to pay);
        # it closes when the online numbers left go to the window (17:00 the day before), as the
        # notice says.
        waitlist_places=5,
        waitlist_order=WaitlistOrder.FIFO,
        waitlist_deadline_time=dt.time(17, 0),
    )
    today = clock.local_today(hospital.timezone)
    leaves = _tree(hospital, KANGNING_TREE, None)
    for li, dep in enumerate(leaves):
        spec, spec_en = _specialty(dep.name_en)
        if li == 0:  # the general clinic, Monday to Saturday mornings
            for weekday in range(6):
                scheduling.template_create(
                    hospital=hospital,
                    department=dep,
                    weekday=weekday,
                    session=Session.AM,
                    start=AM[0],
                    end=AM[1],
                    slots_per_period=4,
                    valid_from=today - dt.timedelta(days=HISTORY_DAYS),
                    location="门诊楼1层 全科诊室",
                )
            continue
        for k in range(2):
            title = (Title.ATTENDING, Title.ASSOCIATE_CHIEF)[k]
            doctor = _doctor(rng, dep, title, (spec, spec_en), years=(5, 25))
            for j in range(2):
                weekday = (li + k * 2 + j * 3) % 6
                session, (start, end) = (Session.AM, AM) if (k + j) % 2 == 0 else (Session.PM, PM)
                scheduling.template_create(
                    hospital=hospital,
                    department=dep,
                    doctor=doctor,
                    weekday=weekday,
                    session=session,
                    start=start,
                    end=end,
                    slots_per_period=2,
                    valid_from=today - dt.timedelta(days=HISTORY_DAYS),
                    location=f"门诊楼{2 + li}层 {20 + k}诊室",
                )
    # The 口腔科 is closed one day for its equipment check, ten days from now.
    CalendarDay.objects.create(
        hospital=hospital,
        department=leaves[-1],
        date=today + dt.timedelta(days=10),
        kind=CalendarDayKind.CLOSURE,
        name="设备检修",
    )
    scheduling.schedules_generate(hospital=hospital, start=today, days=DAYS, actor="demo")


HISTORY_DAYS = 14


def _history(rng: random.Random) -> None:
    """The last two weeks of 康宁社区医院, as they would have happened, so the console's day and
    statistics have something to show: its clinics generated from the templates the day before,
    booked by patients of every age (some cancel), checked in and seen, the rest no-shows. One
    patient missed two visits and is barred, as the rules say."""
    hospital = Hospital.objects.get(code="kangning")
    tz = hospital.timezone
    today = clock.local_today(tz)
    made = iter(range(1, 10_000))

    def someone() -> tuple[Account, Any]:
        phone = f"1370000{next(made):04d}"
        account = Account.objects.create(**phones.columns(phone), created_at=clock.now())
        born = f"{rng.randint(1940, 2022)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        patient = _patient_add(account=account, name=name, id_number=_id_number(rng, born), phone=phone)
        return account, patient

    twice = someone()  # books on two of the days and comes to neither
    # the first clinic day from nine days back and from five days back (no clinics on Sundays)
    twice_due = [9, 5]
    opinions = random.Random(HISTORY_DAYS)  # its own draws: the rest of the demo stays as it was
    for back in range(HISTORY_DAYS, 0, -1):
        day = today - dt.timedelta(days=back)
        booked: list[Any] = []
        with clock.travel(clock.at_local(day - dt.timedelta(days=1), dt.time(9, 0), tz)):
            scheduling.schedules_generate(hospital=hospital, start=day, days=1, actor="demo")
            for schedule in hospital.schedules.filter(date=day).order_by("starts_at", "pk"):
                free = schedule.slots.filter(pool="platform", state="free").count()
                for _ in range(round(free * rng.uniform(0.4, 0.9))):
                    if twice_due and back <= twice_due[0] and not booked:
                        twice_due.pop(0)
                        account, patient = twice
                    else:
                        account, patient = someone()
                    hold = booking.hold_create(account=account, patient=patient, schedule=schedule)
                    booked.append(booking.hold_confirm(hold=hold))
            for registration in booked:
                if registration.patient_id != twice[1].pk and rng.random() < 0.1:
                    actor = booking.Actor.patient(registration.account)
                    booking.registration_cancel(registration=registration, actor=actor)
        with clock.travel(clock.at_local(day, dt.time(8, 5), tz)):
            for registration in booked:
                registration.refresh_from_db()
                if registration.status == "booked" and registration.patient_id != twice[1].pk and rng.random() < 0.8:
                    booking.registration_check_in(registration=registration, actor=booking.SYSTEM)
                    seen = booking.registration_mark_visited(registration=registration, actor=booking.SYSTEM)
                    _opinion(seen, opinions, back)
        with clock.travel(clock.at_local(day, dt.time(18, 0), tz)):
            booking.registrations_mark_no_show()


COMMENTS = [
    (5, "医生很耐心，讲解清楚，开的药效果很好。"),
    (5, "态度和蔼，问诊仔细。"),
    (4, "看得很仔细，就是候诊时间有点长。"),
    (4, "Explained everything clearly; a short wait."),
    (3, "还可以，时间比较赶。"),
    (5, ""),
    (4, ""),
]


def _opinion(registration: Any, rng: random.Random, back: int) -> None:
    """About a third of the patients seen rate the doctor; the older ratings were published by
    the hospital, those of the last three days wait in the console for review."""
    if registration.doctor_id is None or rng.random() > 0.35:
        return
    score, comment = rng.choice(COMMENTS)
    rating = booking.rating_create(registration=registration, score=score, comment=comment)
    if back > 3:
        booking.rating_review(rating=rating, actor=booking.Actor("staff", "kangning"), publish=True)


def _demo_patient(phone: str, rng: random.Random):  # type: ignore[no-untyped-def]
    account = Account.objects.create(**phones.columns(phone), created_at=clock.now())
    patient = _patient_add(
        account=account,
        name=rng.choice(SURNAMES) + rng.choice(GIVEN),
        id_number=_id_number(rng),
        phone=phone,
        relation="self",
    )
    return account, patient


def _book_full(schedule: Schedule, rng: random.Random, first_phone: int) -> None:
    """Every online slot of the clinic booked by demo patients, through the booking services (at a
    paying hospital booked as its payment would book it; no payment is recorded, nobody was charged)."""
    free = schedule.slots.filter(pool="platform", state="free").count()
    for n in range(free):
        account, patient = _demo_patient(str(first_phone + n), rng)
        hold = booking.hold_create(account=account, patient=patient, schedule=schedule)
        if hold.payment_required:
            with transaction.atomic():
                booking.hold_book(hold_id=hold.pk, in_time_at=clock.now(), insurance=False)
        else:
            booking.hold_confirm(hold=hold)


def _waitlists(rng: random.Random) -> list[Schedule]:
    """At the two hospitals that run a waitlist, a clinic of the coming days booked full with two
    patients already waiting for it: a 仁和医院 expert's (a draw; a slot given back is held for
    two hours to pay) and a 康宁社区医院 doctor's (first come; booked at once). Two to six days
    ahead, so at any hour they are released and their waitlists (closing at 18:00 or 17:00 the
    day before) are open."""
    today = clock.local_today("Asia/Shanghai")
    coming = (
        Schedule.objects.filter(
            date__range=(today + dt.timedelta(days=2), today + dt.timedelta(days=6)),
            status=ScheduleStatus.OPEN,
            doctor__isnull=False,
        )
        .exclude(department__name__in=RESTRICTIONS)  # any patient may wait for it
        .select_related("hospital", "department", "doctor")
    )
    full = []
    for number, (code, titles) in enumerate((("renhe", [Title.RENOWNED]), ("kangning", []))):
        at = coming.filter(hospital__code=code).order_by("date", "starts_at", "pk")
        schedule = at.filter(doctor__title__in=titles).first() or at.first()
        if schedule is None:
            continue
        _book_full(schedule, rng, first_phone=13800010000 + number * 1000)
        for k in range(2):
            account, patient = _demo_patient(f"138000{3 + number}{k:04d}", rng)
            waitlist.entry_join(account=account, patient=patient, schedule=schedule)
        full.append(schedule)
    return full


# Whom departments see, by their names in every demo hospital: obstetrics and gynaecology women
# only, paediatrics children under 14.
RESTRICTIONS: dict[str, dict[str, Any]] = {
    "产科": {"patient_sex": "female"},
    "妇科": {"patient_sex": "female"},
    "儿科": {"age_under": 14},
    "儿科普通门诊": {"age_under": 14},
    "小儿呼吸门诊": {"age_under": 14},
}


def _restrictions() -> None:
    """Set last: the demo's made-up history and full clinics were booked by whoever came along.

    At 仁和医院 (which charges online) 妇产科 and 儿科 are listed right after 内科: the API
    contract's smoke journey (``../shared/contract/journey.py``) holds and gives back a slot in
    each of the last ten departments of a paying hospital for a made-up adult, and a department
    that would refuse that adult must not be among them."""
    for name, fields in RESTRICTIONS.items():
        Department.objects.filter(name=name).update(**fields)
    renhe = Department.objects.filter(hospital__code="renhe", level=1)
    for sort, name in enumerate(["内科", "妇产科", "儿科", "外科"]):
        renhe.filter(name=name).update(sort=sort)


def load(seed: int = 20261122) -> None:
    rng = random.Random(seed)
    experts = _catalog_and_schedules(rng)
    _fill(experts, rng)
    _kangning(rng)
    _history(rng)
    suspended = experts[-1]
    type(suspended).objects.filter(pk=suspended.pk).update(
        status=ScheduleStatus.SUSPENDED, suspended_reason="医生外出会诊"
    )
    _waitlists(rng)  # before the HIS connections: the simulator is given these registrations
    HisConnection.objects.create(
        hospital=Hospital.objects.get(code="renhe"), mode=HisMode.SYNCED, hospital_code="renhe"
    )
    HisConnection.objects.create(
        hospital=Hospital.objects.get(code="second"), mode=HisMode.REALTIME, hospital_code="second"
    )
    _restrictions()
    _staff()
    _kiosk()
