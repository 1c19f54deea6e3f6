"""SMS: through Aliyun's SMS service (``aliyun.py``: each hospital's signature and the template
approved there for each kind of message) or, in the demo and tests, printed (``console.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from guahao.notifications.texts import fill

if TYPE_CHECKING:
    from guahao.notifications.models import HospitalChannels


def template_of(settings: HospitalChannels | None, kind: str) -> dict[str, Any] | None:
    """The hospital's SMS template for a kind: ``{"code": …, "code_en"?: …, "params": {name: text}}``."""
    if settings is None:
        return None
    found = (settings.sms_templates or {}).get(kind)
    return found if isinstance(found, dict) and found.get("code") else None


def params_of(template: dict[str, Any], facts: dict[str, str]) -> dict[str, str]:
    """The template's variables, each filled with the message's facts."""
    return {name: fill(str(text), facts) for name, text in (template.get("params") or {}).items()}
