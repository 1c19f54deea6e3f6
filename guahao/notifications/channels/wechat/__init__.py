"""WeChat subscription messages (订阅通知) on a hospital's official account, through WeChat's
documented HTTP API (no SDK: the maintained ones cover other parts of the platform).

- ``POST /cgi-bin/stable_token`` gives the account's access token (kept in the cache until a
  few minutes before it expires; dropped and asked again when WeChat says it is no longer good);
- ``POST /cgi-bin/message/subscribe/bizsend`` sends the hospital's template for the kind to the
  patient's openid at that account, each field filled from the message's facts and cut to what
  WeChat accepts for its type (``thing`` 20 characters, ``phrase`` 5, …);
- ``GET /sns/oauth2/access_token`` turns the code of the account's web authorisation into the
  patient's openid (``openid_for_code``), which links the patient's account.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings as django_settings
from django.core.cache import cache

from guahao.notifications.channels import ChannelError
from guahao.notifications.texts import fill

if TYPE_CHECKING:
    from guahao.notifications.channels import Outgoing
    from guahao.notifications.models import HospitalChannels

log = logging.getLogger(__name__)

TIMEOUT = (3, 10)
TOKEN_STALE = {40001, 40014, 42001}  # the access token is not (or no longer) good
# Trying again will not help: the patient refused or never subscribed (43101), the openid or the
# template is wrong, a field does not fit its type, the account's AppID or secret is wrong.
PERMANENT = {43101, 40003, 40037, 47003, 40013, 40125, 40164, 41030, 40036, 48001}
# What a subscription template's field types accept (characters), as WeChat documents them.
FIELD_LIMITS = {"thing": 20, "phrase": 5, "name": 10, "character_string": 32, "letter": 32, "symbol": 5}


def template_of(settings: HospitalChannels | None, kind: str) -> dict[str, Any] | None:
    if settings is None:
        return None
    found = (settings.wechat_templates or {}).get(kind)
    return found if isinstance(found, dict) and found.get("template_id") else None


def _api(path: str) -> str:
    return f"{django_settings.WECHAT_API_URL}{path}"


def _json(response: requests.Response) -> dict[str, Any]:
    if response.status_code >= 500:
        raise ChannelError(f"wechat HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        raise ChannelError(f"wechat answered HTTP {response.status_code} without JSON") from None
    return answer if isinstance(answer, dict) else {}


def access_token(settings: HospitalChannels, *, fresh: bool = False) -> str:
    key = f"wechat:token:{settings.wechat_app_id}"
    if not fresh:
        kept = cache.get(key)
        if kept:
            return str(kept)
    try:
        answer = _json(
            requests.post(
                _api("/cgi-bin/stable_token"),
                json={
                    "grant_type": "client_credential",
                    "appid": settings.wechat_app_id,
                    "secret": settings.wechat_secret(),
                    "force_refresh": False,
                },
                timeout=TIMEOUT,
            )
        )
    except requests.RequestException as exc:
        raise ChannelError(f"wechat unreachable: {type(exc).__name__}", unreachable=True) from None
    token = answer.get("access_token")
    if not token:
        code = int(answer.get("errcode") or -1)
        raise ChannelError(f"wechat token errcode {code}", permanent=code in PERMANENT)
    cache.set(key, token, timeout=max(60, int(answer.get("expires_in") or 7200) - 300))
    return str(token)


def _fit(field: str, value: str) -> str:
    kind = field.rstrip("0123456789")
    limit = FIELD_LIMITS.get(kind)
    return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"


def fields_of(template: dict[str, Any], facts: dict[str, str]) -> dict[str, dict[str, str]]:
    return {
        name: {"value": _fit(name, fill(str(text), facts))} for name, text in (template.get("fields") or {}).items()
    }


class WechatSubscription:
    name = "wechat"

    def reachable(self, *, settings: HospitalChannels | None, kind: str) -> bool:
        return bool(
            settings and settings.wechat_app_id and settings.wechat_secret_sealed and template_of(settings, kind)
        )

    def send(self, out: Outgoing) -> str:
        template = template_of(out.settings, out.kind)
        if out.settings is None or template is None:
            raise ChannelError("the hospital has no WeChat template for this kind", permanent=True)
        body = {
            "touser": out.to,
            "template_id": template["template_id"],
            "page": out.link,
            "data": fields_of(template, out.facts),
        }
        for attempt in (1, 2):
            token = access_token(out.settings, fresh=attempt == 2)
            try:
                answer = _json(
                    requests.post(
                        _api("/cgi-bin/message/subscribe/bizsend"),
                        params={"access_token": token},
                        json=body,
                        timeout=TIMEOUT,
                    )
                )
            except requests.RequestException as exc:
                raise ChannelError(f"wechat unreachable: {type(exc).__name__}", unreachable=True) from None
            code = int(answer.get("errcode") or 0)
            if code == 0:
                return str(answer.get("msgid", ""))
            if code in TOKEN_STALE and attempt == 1:
                cache.delete(f"wechat:token:{out.settings.wechat_app_id}")
                continue
            raise ChannelError(f"wechat errcode {code}", permanent=code in PERMANENT)
        raise ChannelError("wechat refused the access token")  # pragma: no cover - the loop returns or raises

    def sent_already(self, out: Outgoing) -> str | None:
        return None  # WeChat cannot be asked what it sent


def openid_for_code(settings: HospitalChannels, code: str) -> str:
    """The patient's openid at the hospital's official account, from the code of its web
    authorisation (snsapi_base)."""
    try:
        answer = _json(
            requests.get(
                _api("/sns/oauth2/access_token"),
                params={
                    "appid": settings.wechat_app_id,
                    "secret": settings.wechat_secret(),
                    "code": code,
                    "grant_type": "authorization_code",
                },
                timeout=TIMEOUT,
            )
        )
    except requests.RequestException as exc:
        raise ChannelError(f"wechat unreachable: {type(exc).__name__}", unreachable=True) from None
    openid = answer.get("openid")
    if not openid:
        code_ = int(answer.get("errcode") or -1)
        raise ChannelError(f"wechat errcode {code_}", permanent=code_ in (40029, 40163, 41008) or code_ in PERMANENT)
    return str(openid)
