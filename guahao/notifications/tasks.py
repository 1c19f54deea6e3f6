"""Jobs; thin wrappers around the services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guahao.notifications import delivery, reminders


@db_task()
def send_messages_now() -> dict[str, int]:
    """Asked for after a commit that wrote messages (``services.kick``)."""
    return delivery.messages_send_due()


@db_periodic_task(crontab(minute="*"))
def send_messages() -> dict[str, int]:
    """Whatever a kick missed: messages due again after a failure, at the end of the quiet hours,
    or left claimed by a worker that died."""
    return delivery.messages_send_due()


@db_periodic_task(crontab(minute="*/5"))
def send_reminders() -> dict[str, int]:
    return reminders.reminders_send_due()
