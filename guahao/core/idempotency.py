"""Requests sent again with the same ``Idempotency-Key`` get the first answer and do nothing twice.

A key belongs to one client (the account). The first request with a key runs; its successful
answer is kept for a day and given back to every later request with the same key and the same
request (method, path and body). The same key with another request is refused. A refusal (4xx)
or failure (5xx) is not kept: nothing was done, so the client may send the request again.

Two ways to run, by what the work touches:
- ``atomic``: the work is database-only (a hold). The key, the work and the answer commit in one
  transaction, so a crash loses all three together and a parallel request with the same key
  waits for the first and then gets its answer.
- otherwise (a confirm, which calls the payment provider and must not hold a transaction open):
  the key is claimed first; a parallel request with the same key is told it is still running; a
  claim left by a crash is taken over after ``STALE_AFTER``. The crash may have come after the
  work was done and before its answer was kept: ``recover`` then tells what the first attempt
  did (a confirm: the hold's registration), which is answered as the first answer; otherwise the
  work runs again (it is idempotent itself, a confirm reusing the hold's open payment).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from guahao.core import clock
from guahao.core.errors import INVALID
from guahao.core.models import IdempotentRequest
from guahao.core.problems import ProblemType

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
STALE_AFTER = dt.timedelta(minutes=1)
KEEP_FOR = dt.timedelta(days=1)

KEY_REUSED = ProblemType(
    "idempotency.key_reused", 422, _("This Idempotency-Key was already used for a different request")
)
IN_PROGRESS = ProblemType(
    "idempotency.in_progress", 409, _("The first request with this Idempotency-Key is still running; try again shortly")
)

Answer = tuple[int, Any]


def fingerprint(*, method: str, path: str, body: bytes) -> str:
    """The same request whatever its JSON spacing or key order."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode(errors="replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _stored(answer: Answer) -> Answer:
    status, body = answer
    return status, json.loads(json.dumps(body, cls=DjangoJSONEncoder))


def _finish(record: IdempotentRequest, answer: Answer) -> None:
    IdempotentRequest.objects.filter(pk=record.pk).update(
        status_code=answer[0], response=answer[1], finished_at=clock.now()
    )


def _earlier(*, owner: str, key: str, print_: str, take_over_stale: bool) -> Answer | IdempotentRequest:
    """The answer kept for the key, or the stale claim now ours; refuses a different request."""
    record = IdempotentRequest.objects.get(owner=owner, key=key)
    if record.fingerprint != print_:
        raise KEY_REUSED.error(field=HEADER)
    if record.status_code is not None:
        return record.status_code, record.response
    if take_over_stale and IdempotentRequest.objects.filter(
        pk=record.pk, status_code__isnull=True, created_at__lte=clock.now() - STALE_AFTER
    ).update(created_at=clock.now()):
        return record
    raise IN_PROGRESS.error(field=HEADER)


def replay_or_run(
    *,
    owner: str,
    key: str,
    print_: str,
    run: Callable[[], Answer],
    atomic: bool,
    recover: Callable[[], Answer | None] | None = None,
) -> Answer:
    if not KEY_PATTERN.fullmatch(key):
        raise INVALID.error(detail=f"{HEADER}: 1 to 255 visible ASCII characters", field=HEADER)
    fields = {"owner": owner, "key": key, "fingerprint": print_}
    if atomic:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotentRequest.objects.create(**fields, created_at=clock.now())
            except IntegrityError:
                earlier = _earlier(owner=owner, key=key, print_=print_, take_over_stale=False)
                assert isinstance(earlier, tuple)
                return earlier
            answer = _stored(run())  # a refusal rolls the key back with the work
            _finish(record, answer)
            return answer
    taken_over = False
    try:
        with transaction.atomic():
            record = IdempotentRequest.objects.create(**fields, created_at=clock.now())
    except IntegrityError:
        earlier = _earlier(owner=owner, key=key, print_=print_, take_over_stale=True)
        if isinstance(earlier, tuple):
            return earlier
        record, taken_over = earlier, True
    try:
        done = recover() if taken_over and recover is not None else None
        answer = _stored(done if done is not None else run())
    except BaseException:
        IdempotentRequest.objects.filter(pk=record.pk, status_code__isnull=True).delete()
        raise
    _finish(record, answer)
    return answer


def forget_old() -> int:
    """Keys are kept for a day; the periodic job forgets older ones."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=clock.now() - KEEP_FOR).delete()
    return deleted
