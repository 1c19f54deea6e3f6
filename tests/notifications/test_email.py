"""E-mail through Django's SMTP backend to a real SMTP server (aiosmtpd, in its own process)."""

from __future__ import annotations

import email.header
import mailbox
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from guahao.core import clock
from guahao.notifications import services as notifications
from guahao.notifications.models import Message
from tests.notifications.conftest import EMAIL, worker
from tests.processes import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.clock("10:00")]
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def smtp_server(maildir: Path, port: int) -> Iterator[None]:
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
        + ["-c", "tests.notifications.smtp_server.MailboxRefusingNobody", str(maildir)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("the SMTP server did not start")
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def smtp(settings, tmp_path):
    port = free_port()
    settings.EMAIL_CHANNEL = "smtp"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.DEFAULT_FROM_EMAIL = "noreply@guahao.example"
    maildir = tmp_path / "maildir"
    with smtp_server(maildir, port):
        yield maildir, port


def received(maildir: Path) -> list:
    return list(mailbox.Maildir(maildir))


def decoded(header: str) -> str:
    return str(email.header.make_header(email.header.decode_header(header)))


def test_a_booking_is_mailed_through_the_smtp_server(everywhere, smtp):
    maildir, _ = smtp
    registration = everywhere.book()
    worker()
    worker()
    [mail] = received(maildir)
    message = Message.objects.get(channel="email", kind="registration.booked")
    hospital = everywhere.hospital.name
    assert decoded(mail["Subject"]) == f"预约成功 - {hospital}"
    assert decoded(mail["From"]) == f"{hospital} <noreply@guahao.example>"
    assert mail["To"] == EMAIL
    assert mail["Message-ID"] == f"<guahao-message-{message.pk}@guahao.example>" == message.provider_ref
    body = mail.get_payload(decode=True).decode()
    assert f"就诊序号 1（挂号单号 {registration.registration_number}）" in body
    assert body.strip().endswith(f"/registrations/{registration.pk}/")
    assert (message.status, message.to_masked) == ("sent", "p***@example.com")


def test_a_mail_server_that_is_down_is_tried_again_and_a_refused_mailbox_given_up(everywhere, settings, tmp_path):
    settings.EMAIL_CHANNEL = "smtp"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    port = free_port()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    everywhere.book()
    worker()  # nothing listens yet
    message = Message.objects.get(channel="email")
    assert (message.status, message.last_error) == ("pending", "smtp unreachable: ConnectionRefusedError")

    maildir = tmp_path / "maildir"
    with smtp_server(maildir, port):
        with clock.travel(message.next_at):
            worker()
        message.refresh_from_db()
        # the try that found no server at all used up none of the message's tries
        assert (message.status, message.attempts, len(received(maildir))) == ("sent", 1, 1)

        notifications.preferences_set(account=everywhere.account, email_address="nobody@example.com")
        everywhere.api.call("POST", f"/registrations/{message.registration_id}/cancel", {})
        worker()
    refused = Message.objects.get(channel="email", kind="registration.cancelled")
    assert (refused.status, refused.attempts, refused.last_error) == ("failed", 1, "the address was refused")
    assert len(received(maildir)) == 1
