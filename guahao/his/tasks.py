"""Periodic jobs; thin wrappers around services."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guahao.his import outbox, services, sync


@db_task()
def his_call_send(call_id: int) -> bool:
    """One call sent now, beside the request that queued it."""
    return outbox.call_send(call_id=call_id)


@db_periodic_task(crontab(minute="*"))
def send_his_calls() -> dict[str, int]:
    return outbox.calls_send_due()


@db_periodic_task(crontab(minute="*/5"))
def sync_his() -> dict:
    return sync.hospitals_sync()


@db_periodic_task(crontab(minute="40"))
def generate_schedules() -> int:
    """Clinics from the weekly templates up to the day entering each hospital's release window;
    hourly (not once a night) so every time zone and release time has them before it opens, and
    a run that failed is made good within the hour. Idempotent."""
    return services.schedules_generate_due()
