"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guahao.waitlist import services


@db_periodic_task(crontab(minute="*"))
def expire_waitlists() -> int:
    """Entries still waiting when their clinic's waitlist closes (18:00 the day before)."""
    return services.entries_expire_due()


@db_periodic_task(crontab(minute="*/5"))
def sweep_reserved_slots() -> int:
    return services.reserved_sweep()


@db_task()
def draw_lottery(schedule_id: int) -> int:
    """Asked for when a lottery release's first ticket is taken, due at its window's end."""
    return services.lottery_draw(schedule_id=schedule_id)


@db_periodic_task(crontab(minute="*"))
def draw_lotteries() -> int:
    return services.lotteries_draw_due()
