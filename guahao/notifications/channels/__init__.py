"""The channels a message goes out on, behind one interface (one package each): the in-app
inbox, SMS, WeChat subscription messages and e-mail.

A channel is handed an ``Outgoing`` (the message worded in the reader's language, the address
it goes to, the hospital's settings for the channel) and answers the provider's reference, or
raises ``ChannelError`` saying whether trying again can help. ``sent_already`` is asked before
a message is sent again after a worker died while sending it: a channel whose provider can be
asked what it sent answers the reference of what it finds (else ``None``: sent again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from guahao.notifications.models import HospitalChannels


class ChannelError(Exception):
    """A message not sent. ``permanent``: trying again cannot help. ``unreachable``: the provider
    could not be reached at all (the network or the provider is down), which says nothing of the
    message: it waits for the outage to end without using up its tries."""

    def __init__(self, message: str, *, permanent: bool = False, unreachable: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unreachable = unreachable


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    kind: str
    to: str  # a phone number, an openid or an e-mail address: never logged
    language: str
    title: str
    body: str
    facts: dict[str, str]
    hospital_name: str
    link: str  # where the message's registration or hold is shown (a full URL)
    settings: HospitalChannels | None = None
    sent_on: str = ""  # the day (Beijing) it was first claimed: where a provider's records are looked up
    extra: dict[str, str] = field(default_factory=dict)


class Sender(Protocol):
    name: str

    def reachable(self, *, settings: HospitalChannels | None, kind: str) -> bool:
        """Whether the hospital can send this kind of message on the channel at all."""
        ...

    def send(self, out: Outgoing) -> str:
        """Send; the provider's reference. Raises ``ChannelError``."""
        ...

    def sent_already(self, out: Outgoing) -> str | None:
        """After a worker died while sending: the provider's reference if it has the message."""
        ...


def sender_for(channel: str) -> Sender:
    """The configured sender of a channel."""
    from django.conf import settings

    if channel == "sms":
        if settings.SMS_BACKEND == "aliyun":
            from guahao.notifications.channels.sms.aliyun import AliyunSms

            return AliyunSms()
        from guahao.notifications.channels.sms.console import ConsoleSms

        return ConsoleSms()
    if channel == "wechat":
        from guahao.notifications.channels.wechat import WechatSubscription

        return WechatSubscription()
    if channel == "email":
        from guahao.notifications.channels.email import Email

        return Email()
    from guahao.notifications.channels.inbox import Inbox

    return Inbox()
