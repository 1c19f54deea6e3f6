"""``guahao his check|sync|send [--hospital CODE]``

check  compare the platform with the HIS slot by slot and registration by registration; print
       every difference and exit 1 if there is any (and 2 if a HIS cannot be read)
sync   read catalog, schedules and the feed of changes from the HIS now
send   send the write-backs that are due now
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from guahao.his import check, outbox, sync
from guahao.his.interface import HisError, HisRefused
from guahao.his.models import HisConnection


class Command(BaseCommand):
    help = "Compare with, sync from and write back to the hospitals' HIS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["check", "sync", "send"])
        parser.add_argument("--hospital", help="a hospital's code (default: every connected hospital)")

    def handle(self, *args: Any, action: str, hospital: str | None, **options: Any) -> None:
        connections = HisConnection.objects.filter(is_active=True).select_related("hospital").order_by("hospital_id")
        if hospital:
            connections = connections.filter(hospital__code=hospital)
            if not connections.exists():
                raise CommandError(f"no HIS connection for hospital {hospital!r}")
        if action == "send":
            self.stdout.write(str(outbox.calls_send_due()))
            return
        unreadable, differing = 0, 0
        for connection in connections:
            name = f"{connection.hospital.code} ({connection.mode})"
            try:
                if action == "sync":
                    self.stdout.write(f"{name}: {sync.hospital_sync(connection)}")
                    continue
                found = check.differences(connection)
            except (HisError, HisRefused) as exc:
                self.stdout.write(f"{name}: the HIS could not be read: {exc}")
                unreadable += 1
                continue
            self.stdout.write(f"{name}: {len(found)} differences")
            for line in found:
                self.stdout.write(f"  {line}")
            differing += bool(found)
        if unreadable:
            raise CommandError(f"{unreadable} HIS could not be read", returncode=2)
        if differing:
            raise CommandError(f"{differing} hospital(s) differ from their HIS", returncode=1)
