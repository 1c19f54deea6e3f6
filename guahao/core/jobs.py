"""The job queue's classes: every worker runs Huey's scheduler, and a periodic job is queued by
the first worker to claim its minute, so N workers queue it once, not N times.

The claim is a key written only if absent in the queue's own store (Redis at scale, the SQLite
file embedded), shared by every worker of the queue.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from huey import RedisHuey, SqliteHuey


class OncePerTick:
    """Mixin for a Huey class: ``read_periodic`` returns only the jobs this worker claimed."""

    storage: Any
    name: str

    def read_periodic(self, timestamp: dt.datetime | None) -> list[Any]:
        due = super().read_periodic(timestamp)  # type: ignore[misc]
        if not due:
            return due
        when = timestamp or self._get_timestamp()  # type: ignore[attr-defined]
        claimed = []
        for task in due:
            if self.storage.put_if_empty(self._claim_key(task.name, when), b"1"):
                claimed.append(task)
            # The claims of an hour ago are not needed any more: the store keeps a bounded few.
            self.storage.delete_data(self._claim_key(task.name, when - dt.timedelta(hours=1)))
        return claimed

    def _claim_key(self, task_name: str, when: dt.datetime) -> str:
        return f"periodic:{self.name}:{task_name}:{when:%Y%m%d%H%M}"


class OncePerTickRedisHuey(OncePerTick, RedisHuey):
    pass


class OncePerTickSqliteHuey(OncePerTick, SqliteHuey):
    pass
