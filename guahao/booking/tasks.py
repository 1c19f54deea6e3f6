"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guahao.booking import gate, services


@db_periodic_task(crontab(minute="*"))
def expire_holds() -> int:
    return services.holds_expire()


@db_periodic_task(crontab(minute="*/5"))
def mark_no_shows() -> int:
    return services.registrations_mark_no_show()


@db_periodic_task(crontab(minute="*"))
def rebuild_gate() -> int:
    """The gate's periodic check: every open schedule's free count, again from the database."""
    return gate.rebuild()
