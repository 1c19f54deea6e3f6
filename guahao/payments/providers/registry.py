"""Which provider takes which payment method."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from guahao.payments.interface import PaymentProvider
from guahao.payments.providers.sandbox import SandboxProvider


@cache
def _sandbox(base_url: str, mch_id: str, key: str) -> SandboxProvider:
    return SandboxProvider(base_url=base_url, mch_id=mch_id, key=key)


def provider_named(name: str) -> PaymentProvider | None:
    if name == "sandbox":
        return _sandbox(settings.PAYSIM_URL, settings.PAYSIM_MCH_ID, settings.PAYSIM_KEY)
    return None


def provider_for(method: str) -> PaymentProvider:
    """Every method goes through the configured provider (the sandbox until real adapters land)."""
    provider = provider_named(settings.PAYMENT_PROVIDER)
    assert provider is not None, settings.PAYMENT_PROVIDER
    return provider
