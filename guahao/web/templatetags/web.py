"""Template helpers of the patient web app: names in the reader's language, money, the QR code."""

from __future__ import annotations

from typing import Any

import segno
from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from guahao.payments import money

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
def mmss(seconds: int | None) -> str:
    """Seconds as the countdown shows them (14:59): the page's first paint already has the
    script's format and width, so its first tick moves nothing (no layout shift)."""
    left = max(0, int(seconds or 0))
    return f"{left // 60}:{left % 60:02d}"


@register.filter
def stars(score: float | int | None) -> str:
    """A score out of 5 as stars, rounded to the nearest whole: ★★★★☆."""
    full = max(0, min(5, int((score or 0) + 0.5)))
    return "★" * full + "☆" * (5 - full)


@register.filter
def yuan(fen: int | None) -> str:
    return f"¥{money.yuan(fen or 0)}"


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
