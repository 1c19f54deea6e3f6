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
  the key is claimed first, by a process that holds the key's *liveness lock* until it answered —
  a PostgreSQL advisory lock of its connection, or, on the embedded SQLite, an flock on a file in
  the data directory; the operating system or the database drops either the moment the process
  dies. A parallel request with the same key finds the lock held; it looks again for up to a second
  (the first may answer meanwhile: that answer is given; or the first's process was killed an
  instant ago and its database connection is not closed yet) and is then told the first is still
  running. A request that finds a claim whose lock nobody holds knows the first attempt died
  (``kill -9``, a crash) and takes the claim over at once, instead of waiting for it to go stale.
  The crash may have come after the work was done and before its answer was kept: ``recover``
  then tells what the first attempt did (a confirm: the hold's registration), which is answered
  as the first answer; otherwise the work runs again (it is idempotent itself, a confirm reusing
  the hold's open payment).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext_lazy as _

from guahao.core import clock
from guahao.core.errors import field_refused
from guahao.core.models import IdempotentRequest
from guahao.core.problems import ProblemType

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
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


def _earlier(*, owner: str, key: str, print_: str, take_over: bool) -> Answer | IdempotentRequest:
    """The answer kept for the key, or — ``take_over``: its claimer is known dead — the claim now
    ours; refuses a different request."""
    record = IdempotentRequest.objects.get(owner=owner, key=key)
    if record.fingerprint != print_:
        raise KEY_REUSED.error(field=HEADER)
    if record.status_code is not None:
        return record.status_code, record.response
    if take_over and IdempotentRequest.objects.filter(
        pk=record.pk, status_code__isnull=True, created_at=record.created_at
    ).update(created_at=clock.now()):
        return record
    raise IN_PROGRESS.error(field=HEADER)


CLAIMS_DIR = "idempotency-claims"
BUSY_WAIT = 1.0
"""How long a request finding its key's lock held looks again before it is told the first request
is still running: a first request that answers meanwhile has its answer given, and the lock of one
whose process was just killed is dropped once the database sees the connection close."""
BUSY_POLL = 0.05


def _lock_name(owner: str, key: str) -> bytes:
    return hashlib.blake2b(f"idempotency:{owner}:{key}".encode(), digest_size=8).digest()


@contextlib.contextmanager
def _liveness(owner: str, key: str) -> Iterator[bool]:
    """Hold the key's liveness lock for the block, if nobody alive holds it (True); False when a
    live request (this process's or another's) does. Never waits."""
    name = _lock_name(owner, key)
    if connection.vendor == "postgresql":
        number = int.from_bytes(name, "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [number])
            held = bool(cursor.fetchone()[0])
        try:
            yield held
        finally:
            if held:
                with contextlib.suppress(Exception), connection.cursor() as cursor:  # a lost connection released it
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [number])
        return
    folder = settings.DATA_DIR / CLAIMS_DIR
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / name.hex(), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.utime(fd)  # in use today: forget_old leaves it
        yield True
    finally:
        os.close(fd)  # closing the last descriptor drops the lock, as the process's death does


def _claimed_run(
    *, owner: str, key: str, print_: str, fields: dict[str, str], run: Callable[[], Answer], recover: Any
) -> Answer:
    """The claim and the work, under the key's liveness lock."""
    taken_over = False
    try:
        with transaction.atomic():
            record = IdempotentRequest.objects.create(**fields, created_at=clock.now())
    except IntegrityError:
        # We hold the lock: whoever claimed the key and has not answered is dead.
        earlier = _earlier(owner=owner, key=key, print_=print_, take_over=True)
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


def kept(*, owner: str, key: str, print_: str) -> Answer | None:
    """The answer kept for the key, if its request has one (None otherwise); the same key with
    another request is refused. For a request about to be refused for everyone (sold out): one
    sent again after its first attempt took the last slot is given that answer instead."""
    if not KEY_PATTERN.fullmatch(key):
        raise field_refused(HEADER, _("1 to 255 visible ASCII characters"))
    return _answered(owner=owner, key=key, print_=print_)


def _answered(*, owner: str, key: str, print_: str) -> Answer | None:
    """The answer kept for the key, None while it has none; the key used for another request is
    refused."""
    record = IdempotentRequest.objects.filter(owner=owner, key=key).first()
    if record is None:
        return None
    if record.fingerprint != print_:
        raise KEY_REUSED.error(field=HEADER)
    return None if record.status_code is None else (record.status_code, record.response)


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
        raise field_refused(HEADER, _("1 to 255 visible ASCII characters"))
    fields = {"owner": owner, "key": key, "fingerprint": print_}
    if atomic:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotentRequest.objects.create(**fields, created_at=clock.now())
            except IntegrityError:
                earlier = _earlier(owner=owner, key=key, print_=print_, take_over=False)
                assert isinstance(earlier, tuple)
                return earlier
            answer = _stored(run())  # a refusal rolls the key back with the work
            _finish(record, answer)
            return answer
    # An answer kept already is given back without the lock (replays never wait on each other).
    given = _answered(owner=owner, key=key, print_=print_)
    if given is not None:
        return given
    waited_until = time.monotonic() + BUSY_WAIT
    while True:
        with _liveness(owner, key) as ours:
            if ours:
                return _claimed_run(owner=owner, key=key, print_=print_, fields=fields, run=run, recover=recover)
        # A live request is on it, or answered this instant, or its process was killed this instant
        # and the database has not yet seen its connection close: look again for a little while.
        given = _answered(owner=owner, key=key, print_=print_)
        if given is not None:
            return given
        if time.monotonic() >= waited_until:
            raise IN_PROGRESS.error(field=HEADER)
        time.sleep(BUSY_POLL)


def forget_old() -> int:
    """Keys are kept for a day; the periodic job forgets older ones."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=clock.now() - KEEP_FOR).delete()
    # The embedded database's lock files of keys a day old (none is held any longer).
    old = time.time() - KEEP_FOR.total_seconds()  # file times are the machine's, not the clock's
    folder = settings.DATA_DIR / CLAIMS_DIR
    for path in folder.iterdir() if folder.is_dir() else []:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < old:
                path.unlink()
    return deleted
