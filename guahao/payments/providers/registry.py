"""Which provider takes which payment method, built from the settings."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from guahao.payments.errors import METHOD_UNAVAILABLE
from guahao.payments.interface import PaymentProvider
from guahao.payments.providers.sandbox import SandboxProvider

LIVE = {"wechat": "wechatpay", "alipay": "alipay"}


@cache
def _sandbox(base_url: str, mch_id: str, key: str) -> SandboxProvider:
    return SandboxProvider(base_url=base_url, mch_id=mch_id, key=key)


@cache
def _wechatpay(config: tuple[tuple[str, str], ...]) -> PaymentProvider:
    from guahao.payments.providers.wechatpay import WechatPayProvider

    return WechatPayProvider(**dict(config))  # type: ignore[arg-type]


@cache
def _alipay(config: tuple[tuple[str, str | bool], ...]) -> PaymentProvider:
    from guahao.payments.providers.alipay import AlipayProvider

    return AlipayProvider(**dict(config))  # type: ignore[arg-type]


def provider_named(name: str) -> PaymentProvider | None:
    """The provider a payment was made with (None if it is no longer configured)."""
    if name == "sandbox":
        if not settings.PAYSIM_URL:  # no sandbox set, nor started by a demo of this data directory
            return None
        return _sandbox(settings.PAYSIM_URL, settings.PAYSIM_MCH_ID, settings.PAYSIM_KEY)
    if name == "wechatpay" and all(settings.WECHATPAY.values()):
        return _wechatpay(tuple(sorted(settings.WECHATPAY.items())))
    if name == "alipay" and settings.ALIPAY["app_id"]:
        return _alipay(tuple(sorted(settings.ALIPAY.items())))
    return None


def configured() -> list[str]:
    """The providers new payments may go to."""
    if settings.PAYMENT_PROVIDER == "sandbox":
        return ["sandbox"] if settings.PAYSIM_URL else []
    return [name for name in LIVE.values() if provider_named(name) is not None]


def provider_for(method: str) -> PaymentProvider:
    """The sandbox takes every method; live, WeChat Pay and Alipay take their own."""
    name = "sandbox" if settings.PAYMENT_PROVIDER == "sandbox" else LIVE.get(method, "")
    provider = provider_named(name)
    if provider is None:
        raise METHOD_UNAVAILABLE.error(field="payment_method")
    return provider
