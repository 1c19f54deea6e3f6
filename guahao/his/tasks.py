"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guahao.his import outbox, sync


@db_periodic_task(crontab(minute="*"))
def send_his_calls() -> dict[str, int]:
    return outbox.calls_send_due()


@db_periodic_task(crontab(minute="*/5"))
def sync_his() -> dict:
    return sync.hospitals_sync()
