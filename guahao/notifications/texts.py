"""Wording a message: its facts in the reader's language (the catalog's English names where it
has them) put into the hospital's template for the kind, or the built-in one."""

from __future__ import annotations

import re
from typing import Any

from django.core.cache import cache

from guahao.core.amounts import yuan_shown
from guahao.notifications.kinds import FACTS, KINDS
from guahao.notifications.models import MessageTemplate

PLACEHOLDER = re.compile(r"\{(\w+)\}")

_LABELS = {
    "general": ("普通门诊", "General clinic"),
    "cancellations": ("多次取消预约", "repeated cancellations"),
    "no_shows": ("多次预约未就诊", "repeated missed visits"),
    "manual": ("医院设置", "a decision of the hospital"),
    "refund": ("已付的 {amount} 将原路退回。", "the {amount} you paid goes back to where it was paid from."),
    "no_refund": ("本次挂号未付费。", "nothing was paid."),
    "refund_at_window": (
        "已付的 {amount} 请到医院挂号收费窗口领取。",
        "the {amount} you paid is handed back at the hospital's registration and payment window.",
    ),
    "prepaid": ("预付的 {amount} 将原路退回。", "The {amount} paid in advance goes back to where it was paid from."),
    "none": ("暂无", "none right now"),
    # Why a waitlist entry ended (the waitlist's reason codes).
    "waitlist.deadline": ("候补截止前未等到号源", "the waitlist closed before a slot came free"),
    "waitlist.offer_lapsed": ("候补到号后未在时限内确认", "the slot offered was not confirmed in time"),
    "waitlist.offer_released": ("候补到号后已放弃", "the slot offered was given back"),
    "waitlist.removed": ("医院已将其移出候补", "the hospital removed it"),
    "schedule.suspended": ("该门诊已停诊", "the clinic was suspended"),
    "rule.blacklisted": ("就诊人已暂停网上预约", "the patient is barred from online booking"),
    "rule.one_per_department_per_day": (
        "就诊人当天在该科室已有挂号",
        "the patient already has a registration in this department that day",
    ),
    "rule.per_account_per_day": (
        "账号当天在该医院的挂号已达上限",
        "the account has reached its registrations at this hospital that day",
    ),
    "rule.medical_record_required": ("需先在医院建档", "the hospital needs a medical record first"),
    "payment.failed": ("预付未能发起", "the payment could not be started"),
    "waitlist.prepay_lapsed": ("未在时限内完成预付", "the payment when joining was not made in time"),
    "lottery.not_drawn": ("放号抽签未中签，候补也已满", "not drawn in the release's draw, and the waitlist is full"),
}


def _label(name: str, language: str) -> str:
    zh, en = _LABELS[name]
    return en if language == "en" else zh


def _pick(data: dict[str, Any], name: str, language: str) -> str:
    english = language == "en"
    return str((data.get(f"{name}_en") if english else None) or data.get(name) or "")


def _alternatives(data: dict[str, Any], language: str) -> str:
    offered = data.get("alternatives") or []
    if not offered:
        return _label("none", language)
    english = language == "en"
    parts = []
    for a in offered:
        doctor = a.get("doctor") or {}
        name = (doctor.get("name_en") if english else None) or doctor.get("name") or _label("general", language)
        parts.append(f"{name} {a.get('date', '')}".strip())
    return ("; " if english else "；").join(parts)


def _why(data: dict[str, Any], language: str) -> str:
    """Why something ended, worded; the hospital's own words after it when staff gave them."""
    if data.get("why") not in _LABELS:
        return ""
    text = _label(data["why"], language)
    if data.get("note") and data.get("why") == "waitlist.removed":
        text += (": " if language == "en" else "：") + str(data["note"])
    return text


def _said(data: dict[str, Any], language: str) -> str:
    """The reason staff chose to give the patient when cancelling, as a clause of its own."""
    told = str(data.get("told_reason", "")).strip().rstrip("。．.！!；;，,")
    if not told:
        return ""
    return f"reason given: {told}; " if language == "en" else f"原因：{told}。"


def facts_of(data: dict[str, Any], language: str) -> dict[str, str]:
    """Every fact a text may name, worded for ``language`` (missing ones are empty)."""
    facts = {
        "hospital": _pick(data, "hospital", language),
        "department": _pick(data, "department", language),
        "doctor": _pick(data, "doctor", language) or _label("general", language),
        "date": str(data.get("visit_date", "")),
        "time": str(data.get("time", "")),
        "number": str(data.get("registration_number", "")),
        "slot": str(data.get("slot_number", "")),
        "place": str(data.get("location", "")),
        "amount": str(data.get("amount", "")),
        # The hospital's words end where the text's own punctuation follows: "（…请改约。）。" reads doubled.
        "reason": str(data.get("reason", "")).strip().rstrip("。．.！!；;，,"),
        "deadline": str(data.get("deadline", "")),
        "until": str(data.get("until", "")),
        "hours": str(data.get("hours", "")),
        "patient": str(data.get("patient", "")),
        "position": str(data.get("position", "")),
        "link": str(data.get("link", "")),
        "why": _why(data, language),
        "said": _said(data, language),
        "alternatives": _alternatives(data, language),
    }
    if "refund_fen" in data:
        paid = int(data["refund_fen"] or 0)
        said = "refund_at_window" if data.get("refund_at_window") else "refund"
        facts["refund"] = _amount_said(said, paid, language) if paid else _label("no_refund", language)
    else:
        facts["refund"] = ""
    prepaid = int(data.get("prepaid_fen") or 0)
    facts["prepaid"] = _amount_said("prepaid", prepaid, language) if prepaid else ""
    return facts


def _amount_said(name: str, fen: int, language: str) -> str:
    """The label ``name`` with its ``{amount}`` in yuan."""
    return _label(name, language).replace("{amount}", yuan_shown(fen))


def fill(text: str, facts: dict[str, str]) -> str:
    """Put the facts into ``{name}``; a name that is not a fact stays as written."""
    return PLACEHOLDER.sub(lambda m: facts.get(m.group(1), m.group(0)), text)


def unknown_names(text: str) -> list[str]:
    """The ``{name}``s of a template that are not facts (refused when a template is saved)."""
    return sorted({n for n in PLACEHOLDER.findall(text) if n not in FACTS})


TEMPLATES_SECONDS = 300


def _own_key(hospital_id: int) -> str:
    return f"notifications:templates:{hospital_id}"


def own_templates(hospital_id: int) -> dict[str, tuple[str, str]]:
    """The hospital's own wordings by "kind language" (cached: an inbox of a hundred messages
    reads them once; a template saved in the console is forgotten at once)."""

    def read() -> dict[str, tuple[str, str]]:
        rows = MessageTemplate.objects.filter(hospital_id=hospital_id).values_list("kind", "language", "title", "body")
        return {f"{kind} {language}": (title, body) for kind, language, title, body in rows}

    return cache.get_or_set(_own_key(hospital_id), read, TEMPLATES_SECONDS) or {}


def templates_changed(hospital_id: int) -> None:
    """After a hospital's template was saved or deleted."""
    cache.delete(_own_key(hospital_id))


def wording(*, kind: str, language: str, hospital_id: int | None) -> tuple[str, str]:
    """(title, text) of a kind: the hospital's own template in that language, else the built-in one."""
    if hospital_id is not None:
        own = own_templates(hospital_id).get(f"{kind} {language}")
        if own is not None:
            return own
    spec = KINDS.get(kind)
    if spec is None:
        return kind, ""
    return spec.text(language)


def render(*, kind: str, data: dict[str, Any], language: str, hospital_id: int | None) -> tuple[str, str]:
    title, body = wording(kind=kind, language=language, hospital_id=hospital_id)
    facts = facts_of(data, language)
    return fill(title, facts), fill(body, facts).strip()  # an empty fact at the end leaves no space


def sample_facts(language: str) -> dict[str, str]:
    return {name: (en if language == "en" else zh) for name, (zh, en) in FACTS.items()}
