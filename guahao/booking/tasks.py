"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guahao.booking import services


@db_periodic_task(crontab(minute="*"))
def expire_holds() -> int:
    return services.holds_expire()


@db_periodic_task(crontab(minute="*/5"))
def mark_no_shows() -> int:
    return services.registrations_mark_no_show()
