"""Every kind of message: the channels it goes on, whether the patient may turn it off, whether
it may wake them (SMS in quiet hours), and its built-in wording in each language.

A hospital may word any kind its own way (``MessageTemplate``); ``{name}`` stands for a fact of
the message (``FACTS``). Adding a kind of message is one entry here; an event whose topic is
the kind's name and that carries ``account_id`` (and any of ``registration_id``, ``hold_id``,
``schedule_id``, ``expires_at``) is turned into it without more code (``events.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from guahao.notifications.models import Channel

ALL = (Channel.INBOX, Channel.SMS, Channel.WECHAT, Channel.EMAIL)
QUIET = (Channel.INBOX, Channel.WECHAT)  # what the patient sees in the app or their chat list
NO_SMS = (Channel.INBOX, Channel.WECHAT, Channel.EMAIL)

# The facts a text may name, with an example of each (the console's preview uses them).
FACTS: dict[str, tuple[str, str]] = {
    "hospital": ("仁和医院", "Renhe Hospital"),
    "department": ("心血管内科", "Cardiology"),
    "doctor": ("王建华", "Wang Jianhua"),
    "date": ("2026-11-23", "2026-11-23"),
    "time": ("08:00", "08:00"),
    "number": ("26112312345678", "26112312345678"),
    "slot": ("3", "3"),
    "place": ("门诊楼3层 305", "门诊楼3层 305"),
    "amount": ("¥51.00", "¥51.00"),
    "reason": ("医生外出会诊", "医生外出会诊"),
    "deadline": ("10:15", "10:15"),
    "until": ("2027-02-21", "2027-02-21"),
    "hours": ("2", "2"),
    "patient": ("李秀英", "李秀英"),
    "why": ("30 天内取消 3 次", "3 cancellations within 30 days"),
    "refund": ("已付的 ¥51.00 将原路退回。", "the ¥51.00 you paid goes back to where it was paid from."),
    "prepaid": ("预付的 ¥51.00 将原路退回。", "The ¥51.00 paid in advance goes back to where it was paid from."),
    "alternatives": ("赵立新 2026-11-23；普通门诊 2026-11-24", "Zhao Lixin 2026-11-23; General clinic 2026-11-24"),
    "position": ("4", "4"),
    "link": ("https://pay.example.cn/c/GH2026", "https://pay.example.cn/c/GH2026"),
    "said": ("原因：医生临时停诊。", "reason given: 医生临时停诊; "),
}


@dataclass(frozen=True)
class Kind:
    name: str
    channels: tuple[str, ...]
    zh: tuple[str, str]  # (title, text)
    en: tuple[str, str]
    service: bool = False  # the patient cannot turn it off (a suspension, a refund)
    urgent: bool = False  # sent by SMS in quiet hours too
    event: bool = False  # an event of this name tells it (see the module's docstring)

    def text(self, language: str) -> tuple[str, str]:
        return self.en if language == "en" else self.zh


_VISIT_ZH = "{hospital} {department} {doctor}，{date} {time}"
_VISIT_EN = "{hospital} {department} {doctor}, {date} {time}"

KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind(
            "hold.created",
            QUIET,
            ("号源已锁定", _VISIT_ZH + "，已为您保留至 {deadline}。请在此之前确认（并支付），否则号源将释放。"),
            (
                "Slot held",
                _VISIT_EN + ", held for you until {deadline}. Confirm (and pay) before then or it is released.",
            ),
        ),
        Kind(
            "hold.expired",
            QUIET,
            ("挂号未成功", _VISIT_ZH + "：锁定的号源未在 {deadline} 前确认，已释放，未挂号也未扣费。"),
            (
                "Booking failed",
                _VISIT_EN
                + ": the held slot was not confirmed by {deadline} and was released. Nothing was booked or charged.",
            ),
        ),
        Kind(
            "payment.link",
            (Channel.SMS, Channel.INBOX),
            ("请支付挂号费", "已为您在 " + _VISIT_ZH + " 预约号源，请在 {deadline} 前支付 {amount}：{link}"),
            (
                "Pay for your registration",
                "A slot is held for you at " + _VISIT_EN + ". Pay {amount} before {deadline}: {link}",
            ),
            service=True,
            urgent=True,
            event=True,
        ),
        Kind(
            "payment.received",
            NO_SMS,
            ("支付成功", "已收到您为 {date} {hospital} {department} 支付的 {amount}。"),
            ("Payment received", "We received your payment of {amount} for {hospital} {department} on {date}."),
        ),
        Kind(
            "registration.booked",
            ALL,
            ("预约成功", _VISIT_ZH + "，就诊序号 {slot}（挂号单号 {number}）。请按时到院，凭挂号详情中的二维码签到。"),
            (
                "Registration booked",
                _VISIT_EN + ", visit number {slot} (registration {number}). Please come on time and check in with "
                "the QR code of the registration.",
            ),
            event=True,
        ),
        Kind(
            "registration.moved",
            ALL,
            (
                "改约成功",
                "您的挂号已改约至 "
                + _VISIT_ZH
                + "，就诊序号 {slot}（挂号单号 {number}）。原挂号已取消，已付费用转入新挂号。",
            ),
            (
                "Registration moved",
                "Your registration was moved to " + _VISIT_EN + ", visit number {slot} (registration {number}). "
                "The old one is cancelled; what you paid goes with the new one.",
            ),
            event=True,
        ),
        Kind(
            "registration.his_refused",
            ALL,
            (
                "挂号未获医院确认",
                "您在" + _VISIT_ZH + " 的挂号（挂号单号 {number}，就诊序号 {slot}）未能写入医院系统，"
                "该号可能已在医院窗口挂出。医院工作人员将为您改约，或取消并全额退款，处理后会再通知您。"
                "在此之前请勿凭此挂号就诊。",
            ),
            (
                "Registration not confirmed by the hospital",
                "Your registration {number} (visit number {slot}) at " + _VISIT_EN + " could not be written into "
                "the hospital's system: the number may have been given out at the hospital's window. The "
                "hospital's staff will move it to another time, or cancel it and refund in full, and tell you. "
                "Until then, please do not come for the visit with this registration.",
            ),
            service=True,
            urgent=True,
            event=True,
        ),
        Kind(
            "registration.his_accepted",
            ALL,
            (
                "挂号已由医院确认",
                "您在" + _VISIT_ZH + " 的挂号（挂号单号 {number}，就诊序号 {slot}）已写入医院系统，"
                "可按时到院就诊，凭挂号详情中的二维码签到。",
            ),
            (
                "Registration confirmed by the hospital",
                "Your registration {number} (visit number {slot}) at " + _VISIT_EN + " is now in the hospital's "
                "system after all: please come on time and check in with the QR code of the registration.",
            ),
            service=True,
            urgent=True,
            event=True,
        ),
        Kind(
            "registration.cancelled",
            ALL,
            ("挂号已取消", "您已取消 {date} {hospital} {department} 的挂号（{number}）。{refund}"),
            (
                "Registration cancelled",
                "You cancelled registration {number} at {hospital} {department} on {date}; {refund}",
            ),
        ),
        Kind(
            "registration.cancelled_by_hospital",
            ALL,
            (
                "挂号已在医院取消",
                "您在{hospital} {department} {date} 的挂号 {number} 已在医院取消。{said}{refund}",
            ),
            (
                "Registration cancelled at the hospital",
                "Your registration {number} at {hospital} {department} on {date} was cancelled at the hospital; "
                "{said}{refund}",
            ),
            service=True,
            urgent=True,
        ),
        Kind(
            "schedule.suspended",
            ALL,
            (
                "停诊",
                "{hospital} {department} {doctor} {date} 停诊（{reason}）。您的挂号 {number} 已取消，{refund}"
                "您可以改约其他医生或日期：{alternatives}",
            ),
            (
                "Clinic suspended",
                "{hospital} {department} {doctor} on {date} is suspended ({reason}). Your registration {number} is "
                "cancelled; {refund} You can book another doctor or day instead: {alternatives}",
            ),
            service=True,
            urgent=True,
        ),
        Kind(
            "schedule.suspended_hold",
            QUIET,
            (
                "停诊",
                "{hospital} {department} {doctor} {date} 停诊（{reason}），为您锁定的号源已释放，未扣费。您可以改约其他"
                "医生或日期：{alternatives}",
            ),
            (
                "Clinic suspended",
                "{hospital} {department} {doctor} on {date} is suspended ({reason}); the slot held for you is "
                "released and nothing was charged. You can book another doctor or day instead: {alternatives}",
            ),
            service=True,
        ),
        Kind(
            "schedule.moved",
            ALL,
            (
                "出诊调整",
                "{hospital} {department} {doctor} {date} 的出诊已调整：现为 {time}，诊室 {place}。您的挂号 {number}（就诊序号 "
                "{slot}）继续有效；如新时间不合适，可在线取消。",
            ),
            (
                "Clinic moved",
                "{hospital} {department} {doctor} on {date} has moved: now {time}, room {place}. Your registration "
                "{number} (visit number {slot}) stands; cancel it online if the new time does not suit you.",
            ),
            service=True,
            urgent=True,
        ),
        Kind(
            "schedule.reopened",
            ALL,
            (
                "恢复出诊",
                "{hospital} {department} {doctor} {date} 已恢复出诊。您的挂号 {number} 已在停诊时取消，不会自动恢复；"
                "如仍需就诊，请重新预约。",
            ),
            (
                "Clinic back on",
                "{hospital} {department} {doctor} on {date} is held after all. Your registration {number} was cancelled "
                "when it was suspended and is not restored; book again if you still need the visit.",
            ),
            service=True,
            event=True,
        ),
        Kind(
            "payment.late_refunded",
            ALL,
            (
                "支付已退回",
                "您为 {date} {hospital} {department} 支付的 {amount} 到账时号源锁定已结束，未能挂号，款项将全额原路退回。",
            ),
            (
                "Payment refunded",
                "Your payment of {amount} for {hospital} {department} on {date} arrived after the held slot had "
                "been released, so nothing was booked. All of it goes back to where it was paid from.",
            ),
            service=True,
        ),
        Kind(
            "payment.second_refunded",
            ALL,
            (
                "支付已退回",
                "您在 {date} {hospital} {department} 的挂号已经支付，再次支付的 {amount} 将全额原路退回，挂号仍然有效。",
            ),
            (
                "Payment refunded",
                "Your registration at {hospital} {department} on {date} was already paid for, so a second payment "
                "of {amount} goes back in full to where it was paid from. The registration stands.",
            ),
            service=True,
        ),
        Kind(
            "refund.started",
            QUIET,
            ("退款处理中", "您为 {date} {hospital} {department} 支付的 {amount} 正在原路退回。"),
            (
                "Refund started",
                "The {amount} you paid for {hospital} {department} on {date} is on its way back to where it was paid from.",
            ),
            service=True,
        ),
        Kind(
            "refund.at_window",
            ALL,
            (
                "请到窗口领取退款",
                "您在窗口为 {date} {hospital} {department} 支付的 {amount} 在医院窗口退还，请到挂号收费窗口领取。",
            ),
            (
                "Collect your refund at the window",
                "The {amount} you paid at the window for {hospital} {department} on {date} is paid back at the "
                "hospital: collect it at the registration and payment window.",
            ),
            service=True,
        ),
        Kind(
            "refund.finished",
            ALL,
            ("退款成功", "您为 {date} {hospital} {department} 支付的 {amount} 已原路退回。"),
            (
                "Refund completed",
                "The {amount} you paid for {hospital} {department} on {date} is back where it was paid from.",
            ),
            service=True,
        ),
        Kind(
            "refund.failed",
            ALL,
            (
                "退款延迟",
                "您为 {date} {hospital} {department} 支付的 {amount} 退款未能完成，医院工作人员正在处理，"
                "无需您操作。如有疑问请联系医院。",
            ),
            (
                "Refund delayed",
                "The refund of the {amount} you paid for {hospital} {department} on {date} did not go through; the "
                "hospital's staff are on it and you need do nothing. Contact the hospital with any question.",
            ),
            service=True,
        ),
        Kind(
            "reminder.day_before",
            ALL,
            (
                "明日就诊提醒",
                "您明天 {date} 约 {time} 在{hospital} {department} {doctor} 就诊，就诊序号 {slot}。请按时到院签到；"
                "如不能前来，请提前在线取消。",
            ),
            (
                "Your visit tomorrow",
                "Tomorrow, {date}, at about {time}: {hospital} {department} {doctor}, visit number {slot}. Please "
                "check in on time; if you cannot come, cancel online beforehand.",
            ),
        ),
        Kind(
            "reminder.hours_before",
            ALL,
            (
                "就诊提醒",
                "您约 {hours} 小时后（{date} {time}）在{hospital} {department} {doctor} 就诊，就诊序号 {slot}。",
            ),
            (
                "Your visit soon",
                "In about {hours} hours ({date} {time}): {hospital} {department} {doctor}, visit number {slot}.",
            ),
        ),
        Kind(
            "blacklist.barred",
            ALL,
            (
                "暂停网上预约",
                "{patient} 因{why}，{until} 前不能在{hospital}网上预约，仍可到医院窗口挂号。",
            ),
            (
                "Online booking suspended",
                "Because of {why}, {patient} cannot book online at {hospital} until {until}; registering at the "
                "hospital's window is still possible.",
            ),
            service=True,
        ),
        Kind(
            "blacklist.lifted",
            ALL,
            ("恢复网上预约", "{patient} 在{hospital}的网上预约限制已解除，可以正常预约。"),
            ("Online booking restored", "{patient} can book online at {hospital} again."),
        ),
        # The waitlist's events, each turned into its message by its name alone.
        Kind(
            "waitlist.joined",
            QUIET,
            ("已加入候补", "{patient} 已加入{hospital} {department} {doctor} {date} 的候补。有号时将通知您。"),
            (
                "On the waitlist",
                "{patient} is on the waitlist of {hospital} {department} {doctor} on {date}. We will tell you when a "
                "slot frees up.",
            ),
            event=True,
        ),
        Kind(
            "waitlist.offered",
            ALL,
            (
                "候补到号",
                "{patient} 候补的 {hospital} {department} {doctor} {date} {time} 有号了，已为您锁定至 {deadline}，请及时确认（并支付）。",
            ),
            (
                "A slot for you",
                "A slot freed up for {patient}: {hospital} {department} {doctor}, {date} {time}, held until {deadline}. "
                "Confirm (and pay) in time.",
            ),
            urgent=True,
            event=True,
        ),
        Kind(
            "waitlist.booked",
            ALL,
            ("候补成功", _VISIT_ZH + "，候补已为 {patient} 挂号，就诊序号 {slot}（挂号单号 {number}）。"),
            (
                "Booked from the waitlist",
                _VISIT_EN + ": booked for {patient} from the waitlist, visit number {slot} (registration {number}).",
            ),
            event=True,
        ),
        Kind(
            "waitlist.expired",
            ALL,
            (
                "候补未成功",
                "{hospital} {department} {doctor} {date} 的候补已结束（{why}），未能挂号。{prepaid}",
            ),
            (
                "Waitlist ended",
                "The waitlist of {hospital} {department} {doctor} on {date} ended without a slot for you ({why}). "
                "{prepaid}",
            ),
            service=True,
            event=True,
        ),
        Kind(
            "lottery.entered",
            QUIET,
            (
                "已参加放号抽签",
                "您已参加{hospital} {department} {doctor} {date} 的放号抽签，{deadline} 开签，结果将通知您。",
            ),
            (
                "In the release's draw",
                "You are in the draw for {hospital} {department} {doctor} on {date}; it is made at {deadline} "
                "and you will be told the result.",
            ),
            event=True,
        ),
        Kind(
            "waitlist.cancelled",
            ALL,
            (
                "候补已取消",
                "{hospital} {department} {doctor} {date} 的候补已取消（{why}）。{prepaid}",
            ),
            (
                "Waitlist cancelled",
                "Your waitlist for {hospital} {department} {doctor} on {date} was cancelled ({why}). {prepaid}",
            ),
            service=True,
            event=True,
        ),
    ]
}


def kind_of(name: str) -> Kind | None:
    return KINDS.get(name)


# Kinds that tell the patient a registration stands (come on time, check in): one still waiting
# to go (an SMS held back for the quiet hours, a retry) is not sent once the registration no
# longer stands, nor once a message saying it does not stand was told (``SUPERSEDE``).
STANDING = frozenset(
    {
        "registration.booked",
        "registration.moved",
        "registration.his_accepted",
        "reminder.day_before",
        "reminder.hours_before",
        "waitlist.booked",
    }
)
SUPERSEDE = frozenset({"registration.his_refused"})
RESTORE = frozenset({"registration.his_accepted"})  # what a superseding message said no longer holds
