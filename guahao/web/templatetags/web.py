"""Template helpers of the patient web app: names in the reader's language, money, the QR code."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import segno
from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from guahao.core import clock
from guahao.core.amounts import yuan_shown

register = template.Library()


@register.filter
def loc(obj: Any, name: str = "name") -> str:
    """``obj.name`` or, for an English reader, ``obj.name_en`` when there is one (dicts too)."""
    get = obj.get if isinstance(obj, dict) else lambda key, default="": getattr(obj, key, default)
    if (get_language() or "").startswith("en"):
        english = get(f"{name}_en", "")
        if english:
            return str(english)
    return str(get(name, "") or "")


@register.filter
def clip(text: Any, length: int = 90) -> str:
    """``text`` cut to about ``length`` characters, with an ellipsis: where words are spaced
    (English) at the end of a word, not inside one; anywhere in Chinese."""
    text = " ".join(str(text or "").split())
    if len(text) <= length:
        return text
    cut = text[: length - 1]
    if cut[-1].isascii() and cut[-1].isalnum() and text[length - 1].isalnum() and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:，；：") + "…"


@register.simple_tag
def colon() -> str:
    """A label's colon: full-width in Chinese (就诊地点：), ": " in English."""
    return ": " if (get_language() or "").startswith("en") else "："


_GRADE = re.compile(r"([一二三])级([特甲乙丙])等")


@register.filter
def grade(text: str) -> str:
    """A hospital's grade (三级甲等) as an English reader knows it (Grade 3A); others as written."""
    found = _GRADE.fullmatch((text or "").strip())
    if not found or not (get_language() or "").startswith("en"):
        return text
    level = "一二三".index(found.group(1)) + 1
    return f"Grade {level}" + {"特": " Special", "甲": "A", "乙": "B", "丙": "C"}[found.group(2)]


@register.filter
def day_end(at: Any) -> str:
    """A deadline as "Y-m-d H:i", where midnight reads as the end of the day before (24:00): a
    cancellation open until the end of 12-06 reads "2026-12-06 24:00", not "2026-12-07 00:00",
    which reads as the visit day. ``at``: an aware datetime, shown on the current time zone."""
    if not isinstance(at, dt.datetime):
        return ""
    local = at.astimezone(timezone.get_current_timezone()) if timezone.is_aware(at) else at
    if local.time() == dt.time(0, 0):
        return f"{(local.date() - dt.timedelta(days=1)).isoformat()} 24:00"
    return date_format(local, "Y-m-d H:i")


@register.filter
def soon(at: Any, seconds: str = "") -> str:
    """A deadline on the current time zone's clock: "H:i" when it is today there, else with its
    day ("12-07 10:15"), so a hold kept until tomorrow does not read as today. ``seconds``: "s"
    to add them."""
    if not isinstance(at, dt.datetime):
        return ""
    zone = timezone.get_current_timezone()
    local = at.astimezone(zone)
    shown = "H:i:s" if seconds == "s" else "H:i"
    if local.date() != clock.now().astimezone(zone).date():
        shown = "m-d " + shown
    return date_format(local, shown)


@register.filter
def mmss(seconds: int | None) -> str:
    """Seconds as the countdown shows them (14:59): the page's first paint already has the
    script's format and width, so its first tick moves nothing (no layout shift)."""
    left = max(0, int(seconds or 0))
    hours, minutes, secs = left // 3600, left // 60 % 60, left % 60
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"  # 1:59:36, 14:59


@register.filter
def stars(score: float | int | None) -> str:
    """A score out of 5 as stars, rounded to the nearest whole: ★★★★☆."""
    full = max(0, min(5, int((score or 0) + 0.5)))
    return "★" * full + "☆" * (5 - full)


@register.filter
def yuan(fen: int | None) -> str:
    return yuan_shown(fen or 0)


@register.simple_tag
def qr_svg(data: str, label: str) -> SafeString:
    """The QR code as inline SVG (no image request, sharp at any zoom); ``label`` is its alt text."""
    svg = segno.make(data, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff", title=label)
    return mark_safe(svg)  # noqa: S308 - segno writes the markup; the title is escaped by segno


@register.simple_tag
def qr_svg_sized(data: str, label: str) -> SafeString:
    """The QR code as inline SVG without a fixed size: the page's stylesheet sizes it (the kiosk's
    codes are scanned from half a metre away)."""
    svg = segno.make(data, error="m").svg_inline(border=2, dark="#000", light="#fff", title=label, omitsize=True)
    return mark_safe(svg)  # noqa: S308 - segno writes the markup; the title is escaped by segno


@register.filter
def get_item(mapping: dict, key: str) -> Any:
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
