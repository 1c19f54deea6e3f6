"""Staff actions on the HIS integration, each recorded in the order's audit trail."""

from __future__ import annotations

from guahao.booking import services as booking
from guahao.his import outbox
from guahao.his.models import HisCall


def call_retry(*, call: HisCall, actor: booking.Actor) -> HisCall:
    """Staff send a failing write-back again now; who asked goes into the order's audit trail."""
    booking.event_record(
        actor=actor,
        kind="his.call_retried",
        hold=call.hold,
        registration=call.registration,
        call=call.kind,
        ref=call.ref,
        attempts=call.attempts,
        last_error=call.last_error,
    )
    return outbox.call_retry(call=call)
