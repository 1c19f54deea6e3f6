"""The only place that takes row locks, always in this order: account, then person, then slot.

On PostgreSQL these are ``SELECT … FOR UPDATE`` (``SKIP LOCKED`` for slots). SQLite has no row
locks; there every transaction begins IMMEDIATE (settings), so writers are serialised whole and
the same reads are safe, and holds queue for that lock in turn (``sqlite_writers_turn``). Call
these inside ``transaction.atomic()``, but ``hold_take``, which is a transaction by itself when
called outside one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection, transaction

from guahao.accounts.locks import lock_account
from guahao.accounts.models import Patient
from guahao.booking.models import ACTIVE_REGISTRATION, ActorType
from guahao.scheduling.models import Pool

__all__ = ["Counts", "HoldTerms", "Taken", "allowed", "counts_of", "hold_take", "lock_account", "lock_person"]


@dataclass(frozen=True)
class Counts:
    """What the limits are checked against, read under the account and person locks."""

    live_holds: int  # the account's live holds, anywhere
    in_department: int  # the person's live holds and registrations in the department that day
    at_hospital: int  # the account's live holds and registrations at the hospital that day
    barred_reason: str | None  # the person's active bar at the hospital, if any
    barred_until: dt.datetime | None


def lock_person(person_hash: str) -> None:
    """Lock every patient row of one real person (the same ID number may be in several accounts)."""
    list(
        Patient.objects.select_for_update()
        .filter(id_number_hash=person_hash)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# The limits' counts, each by the index that begins with the account or the person (a few rows
# whatever the database holds). ``{n}`` and ``{t}`` keep the other columns out of PostgreSQL's
# choice of index (``+ 0``, ``|| ''``; plain columns on SQLite): the hold function's statements are
# planned once per connection, often while the hold tables are new and have no statistics, and
# with every guess alike PostgreSQL took the index of the live holds or of the department, read
# every live hold of the release and filtered it (0.6 ms of a hold at a thousand live holds).
COUNTS = """
SELECT
    (SELECT COUNT(*) FROM booking_hold h
     WHERE h.account_id = %(account)s AND h.status{t} = 'held' AND h.expires_at > %(now)s),
    (SELECT COUNT(*) FROM booking_hold h
     WHERE h.person_hash = me.person AND h.department_id{n} = %(department)s AND h.visit_date{n} = %(day)s
       AND h.status{t} = 'held' AND h.expires_at > %(now)s)
    + (SELECT COUNT(*) FROM booking_registration r
       WHERE r.person_hash = me.person AND r.department_id{n} = %(department)s AND r.visit_date{n} = %(day)s
         AND r.status{t} IN ({active})),
    (SELECT COUNT(*) FROM booking_hold h
     WHERE h.account_id = %(account)s AND h.hospital_id{n} = %(hospital)s AND h.visit_date{n} = %(day)s
       AND h.status{t} = 'held' AND h.expires_at > %(now)s)
    + (SELECT COUNT(*) FROM booking_registration r
       WHERE r.account_id = %(account)s AND r.hospital_id{n} = %(hospital)s AND r.visit_date{n} = %(day)s
         AND r.status{t} IN ({active})),
    (SELECT b.reason FROM booking_blacklistentry b
     WHERE b.hospital_id{n} = %(hospital)s AND b.person_hash = me.person AND b.lifted_at IS NULL
       AND b.ends_at > %(now)s
     ORDER BY b.ends_at DESC LIMIT 1),
    (SELECT b.ends_at FROM booking_blacklistentry b
     WHERE b.hospital_id{n} = %(hospital)s AND b.person_hash = me.person AND b.lifted_at IS NULL
       AND b.ends_at > %(now)s
     ORDER BY b.ends_at DESC LIMIT 1),
    me.person
FROM (SELECT id_number_hash AS person FROM accounts_patient
      WHERE id = %(patient)s AND account_id = %(account)s AND removed_at IS NULL) me
"""


def _counts_sql() -> str:
    if connection.vendor == "postgresql":
        return COUNTS.format(active=_active(), n=" + 0", t=" || ''")
    return COUNTS.format(active=_active(), n="", t="")


# The slot: the lowest free online one (of the period, if given) whose period is not over, or
# the number a realtime HIS locked for us (free, or ``elsewhere`` by an older copy of the HIS's
# state: the HIS's lock is the newer word); of a schedule that is open, whatever a cache believed.
# On PostgreSQL concurrent claimers skip each other's locked rows instead of queueing behind
# them (the slot row alone: the join to its period must not lock the period's other slots).
PICK_FREE = """
SELECT s.id FROM scheduling_slot s JOIN scheduling_period p ON p.id = s.period_id
WHERE s.schedule_id = %(schedule)s AND s.pool = %(pool)s AND s.state {states} AND p.ends_at > %(now)s {period} {gate}
ORDER BY s.number LIMIT 1 {skip}
"""
PICK_NUMBER = """
SELECT s.id FROM scheduling_slot s
WHERE s.schedule_id = %(schedule)s AND s.number = %(number)s AND s.pool = 'platform' AND s.state {states} {gate}
"""
CLAIM = """
UPDATE scheduling_slot SET state = 'held'
WHERE id = ({pick}) AND state {states}
AND EXISTS (SELECT 1 FROM scheduling_schedule c WHERE c.id = %(schedule)s AND c.status = 'open')
RETURNING id, period_id, number, pool
"""
# Which slots a hold may take: free ones; for the waitlist's offers also those kept for it; for a
# realtime HIS's lock also ``elsewhere`` (the HIS's lock is the newer word), or kept for the waitlist.
FREE, FREE_OR_RESERVED = "IN ('free')", "IN ('free', 'reserved')"
FREE_OR_ELSEWHERE = "IN ('free', 'elsewhere', 'reserved')"
HOLD_COLUMNS = (
    "account_id, patient_id, person_hash, hospital_id, department_id, schedule_id, period_id, slot_id, visit_date,"
    " status, registration_fee_fen, consultation_fee_fen, payment_required, created_at, expires_at, ended_at,"
    " his_lock_ref, his_registration_ref, channel"
)
HOLD_VALUES = (
    "%(account)s, %(patient)s, {person}, %(hospital)s, %(department)s, %(schedule)s, {period_id}, {slot_id}, %(day)s,"
    " 'held', %(registration_fee)s, %(consultation_fee)s, %(payment_required)s, %(now)s, %(expires)s, NULL,"
    " %(his_lock_ref)s, '', %(channel)s"
)
EVENT_COLUMNS = "hold_id, registration_id, kind, from_status, to_status, actor_type, actor_id, at, data"
OUTBOX_COLUMNS = "topic, data, created_at"

SQLITE_HOLD = (
    "INSERT INTO booking_hold ("
    + HOLD_COLUMNS
    + ") VALUES ("
    + HOLD_VALUES.format(person="%(person)s", period_id="%(period_id)s", slot_id="%(slot_id)s")
    + ") RETURNING id"
)
SQLITE_EVENT = (
    "INSERT INTO booking_bookingevent (" + EVENT_COLUMNS + ") VALUES "
    "(%(hold)s, NULL, 'hold.created', '', 'held', %(actor_type)s, %(actor)s, %(now)s, %(data)s)"
)
SQLITE_TOLD = "INSERT INTO core_outboxevent (" + OUTBOX_COLUMNS + ") VALUES ('hold.created', %(data)s, %(now)s)"


@dataclass(frozen=True)
class HoldTerms:
    """What a new hold is made of and the limits it must keep, settled before the database."""

    account_id: int
    patient_id: int
    hospital_id: int
    department_id: int
    schedule_id: int
    visit_date: dt.date
    registration_fee_fen: int
    consultation_fee_fen: int
    payment_required: bool
    now: dt.datetime
    expires_at: dt.datetime
    max_live: int
    max_department: int
    max_hospital: int
    period_id: int | None = None
    number: int | None = None  # a realtime HIS's lock: this slot
    his_lock_ref: str = ""
    reserved: bool = False  # a waitlist's offer: slots kept for the waitlist may be taken too
    pool: str = Pool.PLATFORM  # the window and kiosks take the onsite pool, the phone desk its share
    fallback: str | None = None  # the pool taken from when ``pool`` has nothing (the phone desk: online)
    channel: str = "app"  # where the hold was asked for (app, wechat, window, phone, kiosk, sms, partner:…)
    actor_type: str = ActorType.PATIENT
    actor_id: str = ""  # "": the account


@dataclass(frozen=True)
class Taken:
    """What ``hold_take`` found: the person (None: the patient is not the account's), the
    counts the limits were checked against, and the hold with its slot when one was made."""

    person_hash: str | None
    counts: Counts | None
    hold_id: int | None = None
    slot_id: int | None = None
    period_id: int | None = None
    number: int | None = None
    pool: str | None = None  # the slot's pool (``HoldTerms.pool``, or its fallback)

    @property
    def within_limits(self) -> bool:
        c = self.counts
        return c is not None and c.barred_reason is None


def _params(terms: HoldTerms) -> dict[str, Any]:
    ops = connection.ops
    return {
        "account": terms.account_id,
        "patient": terms.patient_id,
        "hospital": terms.hospital_id,
        "department": terms.department_id,
        "schedule": terms.schedule_id,
        "day": ops.adapt_datefield_value(terms.visit_date),
        "now": ops.adapt_datetimefield_value(terms.now),
        "expires": ops.adapt_datetimefield_value(terms.expires_at),
        "expires_iso": terms.expires_at.isoformat(),
        "registration_fee": terms.registration_fee_fen,
        "consultation_fee": terms.consultation_fee_fen,
        "payment_required": terms.payment_required,
        "max_live": terms.max_live,
        "max_department": terms.max_department,
        "max_hospital": terms.max_hospital,
        "period": terms.period_id,
        "number": terms.number,
        "his_lock_ref": terms.his_lock_ref,
        "actor_type": str(terms.actor_type),
        "actor": terms.actor_id or str(terms.account_id),
        "pool": str(terms.pool),
        "fallback": str(terms.fallback) if terms.fallback else None,
        "channel": terms.channel,
    }


def _active() -> str:
    return ", ".join(f"'{s}'" for s in ACTIVE_REGISTRATION)


def _counts(row: tuple[Any, ...]) -> Counts:
    live, department, hospital, reason, until = row[:5]
    if isinstance(until, str):  # SQLite hands a datetime back as text, in UTC
        until = dt.datetime.fromisoformat(until)
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=dt.UTC)
    return Counts(
        live_holds=live, in_department=department, at_hospital=hospital, barred_reason=reason, barred_until=until
    )


def _claim_sql(terms: HoldTerms) -> str:
    """The claim of the SQLite path (the PostgreSQL function has its own, from the same fragments)."""
    if terms.number is not None:
        return CLAIM.format(pick=PICK_NUMBER.format(states=FREE_OR_ELSEWHERE, gate=""), states=FREE_OR_ELSEWHERE)
    states = FREE_OR_RESERVED if terms.reserved else FREE
    period = "AND s.period_id = %(period)s" if terms.period_id is not None else ""
    return CLAIM.format(pick=PICK_FREE.format(period=period, states=states, gate="", skip=""), states=states)


def _from_fallback(sql: str) -> str:
    """A claim of the fallback pool (the phone desk's share gone: the platform pool)."""
    return sql.replace("%(pool)s", "%(fallback)s")


def counts_of(terms: HoldTerms) -> Taken:
    """The counts alone, without locks (a check before asking a HIS for a lock; ``hold_take``
    checks them again, under the locks)."""
    with connection.cursor() as cursor:
        cursor.execute(_counts_sql(), _params(terms))
        row = cursor.fetchone()
    return Taken(person_hash=None, counts=None) if row is None else Taken(person_hash=row[5], counts=_counts(row))


def hold_take(terms: HoldTerms) -> Taken:
    """Check the bar and the limits under the account and person locks and, when they allow it,
    take the slot and write the hold, its event and its outbox event: one transaction (the
    caller's, or its own), one round trip on PostgreSQL (a function of ours).

    Returns what was found; ``hold_id`` is None when a rule refused (see ``counts``) or no slot
    was free. A slot only changes from free to held once: the conditional update decides.
    """
    params = _params(terms)
    if connection.vendor == "postgresql":
        return _hold_take_postgresql(terms, params)
    if connection.in_atomic_block:
        # The caller's transaction may hold the database's write lock already: waiting for a
        # turn here could wait for a hold that waits for that lock.
        return _hold_transaction(terms, params)
    with sqlite_writers_turn(str(connection.settings_dict["NAME"])):
        return _hold_transaction(terms, params)


def _hold_transaction(terms: HoldTerms, params: dict[str, Any]) -> Taken:
    with transaction.atomic():
        return _hold_take_sqlite(terms, params)


# SQLite lets one writer in at a time. A writer that finds the database locked sleeps and tries
# again, 1, 2, 5, 10 … 100 ms later (its busy timeout): in a release's crowd most holds slept
# while the lock was free again, and the unlucky ones retried for a second. Holds take turns
# instead: the threads of a process on a lock, the processes on a file lock beside the database
# (``flock``: the kernel wakes the next one the moment it is let go, and lets go of a process's
# turn when the process dies). Other writers are few and keep the busy timeout.
_turn = threading.Lock()
_turn_file: dict[str, int] = {}  # database path → this process's descriptor of its lock file


def _forked() -> None:
    """A child has its own turn: a lock another thread held at the fork would never be let go,
    and a descriptor shared with the parent would share the parent's file lock."""
    global _turn
    _turn = threading.Lock()
    for fd in _turn_file.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _turn_file.clear()


os.register_at_fork(after_in_child=_forked)


@contextlib.contextmanager
def sqlite_writers_turn(database: str) -> Iterator[None]:
    """This thread's turn to write a hold to the SQLite database at ``database`` (a path; an
    in-memory database has the process's lock alone). Take it holding no transaction."""
    with _turn:
        fd = _turn_file.get(database)
        if fd is None and database != ":memory:" and not database.startswith("file:"):
            fd = _turn_file[database] = os.open(f"{database}.holds.lock", os.O_RDWR | os.O_CREAT, 0o600)
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


# PostgreSQL: the whole hold is one function call, one round trip. The function's statements are
# planned once per connection. It is a VOLATILE function, so each statement in it reads what was
# committed when that statement began: the counts, read after the locks were taken, see every
# hold committed while they waited. The function is made from the same fragments as the SQLite
# path; its name carries a digest of its text, so a process always calls the text it was built
# with (``_pg_ready`` makes it when the database does not have it yet).
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION {name}(
    p_account bigint, p_patient bigint, p_hospital bigint, p_department bigint, p_schedule bigint,
    p_day date, p_now timestamptz, p_expires timestamptz, p_expires_iso text,
    p_registration_fee integer, p_consultation_fee integer, p_payment_required boolean,
    p_max_live integer, p_max_department integer, p_max_hospital integer,
    p_period bigint, p_number integer, p_his_lock_ref text, p_actor_type text, p_actor text, p_states text[],
    p_pool text, p_channel text, p_fallback text
) RETURNS TABLE (
    live bigint, department bigint, hospital bigint, bar_reason text, bar_until timestamptz, person text,
    hold_id bigint, slot_id bigint, period_id bigint, number integer, slot_pool text
) LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    v_person text;
    v_slot bigint;
    v_period bigint;
    v_number integer;
    v_pool text;
    v_hold bigint;
BEGIN
    PERFORM 1 FROM accounts_account WHERE id = p_account FOR UPDATE;
    SELECT id_number_hash INTO v_person FROM accounts_patient
    WHERE id = p_patient AND account_id = p_account AND removed_at IS NULL;
    IF v_person IS NULL THEN
        RETURN;  -- not the account's patient: no row
    END IF;
    PERFORM 1 FROM accounts_patient WHERE id_number_hash = v_person ORDER BY id FOR UPDATE;
    {counts} INTO live, department, hospital, bar_reason, bar_until, person;
    IF bar_reason IS NULL AND live < p_max_live AND department < p_max_department AND hospital < p_max_hospital THEN
        IF p_number IS NOT NULL THEN
            {claim_number} INTO v_slot, v_period, v_number, v_pool;
        ELSE
            {claim_free}
            -- Nothing: every free slot was locked by another claimer at that instant, or none is
            -- left. If some are still free, wait for the first one's claimer to finish (the row
            -- is read again then; if it went, the next free one is taken): the last word.
            IF v_slot IS NULL AND EXISTS ({any_free}) THEN
                {claim_wait}
            END IF;
            -- The phone desk's share gone: the same steps in the pool it falls back on.
            IF v_slot IS NULL AND p_fallback IS NOT NULL THEN
                {fallback_free}
                IF v_slot IS NULL AND EXISTS ({fallback_any_free}) THEN
                    {fallback_wait}
                END IF;
            END IF;
        END IF;
        IF v_slot IS NOT NULL THEN
            INSERT INTO booking_hold ({hold_columns}) VALUES ({hold_values}) RETURNING id INTO v_hold;
            INSERT INTO booking_bookingevent ({event_columns})
            VALUES (v_hold, NULL, 'hold.created', '', 'held', p_actor_type, p_actor, p_now,
                    jsonb_build_object('slot_number', v_number));
            INSERT INTO core_outboxevent ({outbox_columns})
            VALUES ('hold.created', jsonb_build_object('hold_id', v_hold, 'account_id', p_account,
                    'schedule_id', p_schedule, 'expires_at', p_expires_iso), p_now);
        END IF;
    END IF;
    hold_id := v_hold;
    slot_id := v_slot;
    period_id := v_period;
    number := v_number;
    slot_pool := v_pool;
    RETURN NEXT;
END
$fn$
"""
PG_ARGS = (
    "account, patient, hospital, department, schedule, day, now, expires, expires_iso, registration_fee,"
    " consultation_fee, payment_required, max_live, max_department, max_hospital, period, number, his_lock_ref,"
    " actor_type, actor, states, pool, channel, fallback"
).split(", ")
ANY_FREE = (
    "SELECT 1 FROM scheduling_slot s JOIN scheduling_period p ON p.id = s.period_id WHERE s.schedule_id = %(schedule)s"
    " AND s.pool = %(pool)s AND s.state = ANY(%(states)s) AND p.ends_at > %(now)s"
    " AND (%(period)s IS NULL OR s.period_id = %(period)s)"
)


def _as_plpgsql(sql: str) -> str:
    """A fragment with ``%(name)s`` parameters, as the function's ``p_name`` arguments."""
    return re.sub(r"%\((\w+)\)s", r"p_\1", sql).strip()


@functools.cache
def _pg_function() -> tuple[str, str]:
    """(name, CREATE statement) of the hold function, made from this module's fragments."""
    period = "AND (%(period)s IS NULL OR s.period_id = %(period)s)"
    number = PICK_NUMBER.format(states=FREE_OR_ELSEWHERE, gate="")

    def claim(skip: str, *, fallback: bool = False) -> str:
        """The claim of the lowest slot in one of ``p_states``. With one state (every hold but
        the waitlist's offers) the state is compared by equality, so the slot index
        (schedule, pool, state, number) hands the lowest one first; a list of states makes
        PostgreSQL read and sort every free slot of the schedule, which grows with its size."""
        made = []
        for states in ("= %(states)s[1]", "= ANY(%(states)s)"):
            pick = PICK_FREE.format(period=period, states=states, gate="", skip=skip)
            sql = CLAIM.format(pick=pick, states=states)
            made.append(_as_plpgsql(_from_fallback(sql) if fallback else sql))
        one, many = made
        into = " INTO v_slot, v_period, v_number, v_pool;"
        return f"IF cardinality(p_states) = 1 THEN\n{one}{into}\nELSE\n{many}{into}\nEND IF;"

    free, wait = "FOR UPDATE OF s SKIP LOCKED", "FOR UPDATE OF s"
    body = {
        "counts": _as_plpgsql(_counts_sql()),
        "claim_free": claim(free),
        "claim_wait": claim(wait),
        "claim_number": _as_plpgsql(CLAIM.format(pick=number, states=FREE_OR_ELSEWHERE)),
        "any_free": _as_plpgsql(ANY_FREE),
        "fallback_free": claim(free, fallback=True),
        "fallback_wait": claim(wait, fallback=True),
        "fallback_any_free": _as_plpgsql(_from_fallback(ANY_FREE)),
        "hold_columns": HOLD_COLUMNS,
        "hold_values": _as_plpgsql(HOLD_VALUES.format(person="v_person", period_id="v_period", slot_id="v_slot")),
        "event_columns": EVENT_COLUMNS,
        "outbox_columns": OUTBOX_COLUMNS,
    }
    text = PG_FUNCTION.format(name="{name}", **body)
    name = "guahao_hold_take_" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return name, text.replace("{name}", name)


_pg_ready: set[str] = set()  # functions this process knows the database has


def pg_function_ensure() -> str:
    """The hold function's name, made in the database first if it is not there yet."""
    name, create = _pg_function()
    if name in _pg_ready:
        return name
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = %s", [name])
        if cursor.fetchone() is None:
            with transaction.atomic():
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])  # one maker at a time
                cursor.execute(create)
    if not connection.in_atomic_block:  # made in a transaction that might still be undone: ask again
        _pg_ready.add(name)
    return name


class _Prepared(psycopg.Cursor):  # type: ignore[type-arg]
    """A cursor whose arguments PostgreSQL binds and whose statement it prepares on first use,
    then keeps for the connection (pooled connections keep theirs). Django's own cursors quote
    every argument into the text, which PostgreSQL parses and plans again each time."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)


def _hold_take_postgresql(terms: HoldTerms, params: dict[str, Any]) -> Taken:
    name = pg_function_ensure()
    # The slot states a hold may take, as an array: the function's only list (SQLite's steps have
    # them in their text, and its debug cursor cannot quote a list).
    params = params | {"states": ["free", "reserved"] if terms.reserved else ["free"]}
    # The one statement of every hold, prepared: some 0.1 ms less of the web process's CPU and
    # as much of PostgreSQL's per hold. Django's wrapper still turns errors into its own and
    # logs the query where queries are logged.
    connection.ensure_connection()
    prepared: Any = _Prepared(connection.connection)
    wrapped = connection.make_debug_cursor(prepared) if connection.queries_logged else connection.make_cursor(prepared)
    with wrapped as cursor:
        cursor.execute(f"SELECT * FROM {name}({', '.join(['%s'] * len(PG_ARGS))})", [params[a] for a in PG_ARGS])
        row = cursor.fetchone()
    if row is None:
        return Taken(person_hash=None, counts=None)
    return Taken(row[5], _counts(row), hold_id=row[6], slot_id=row[7], period_id=row[8], number=row[9], pool=row[10])


def allowed(counts: Counts, terms: HoldTerms) -> bool:
    """Whether the counts leave room for the hold (and no bar stands in its way)."""
    return (
        counts.barred_reason is None
        and counts.live_holds < terms.max_live
        and counts.in_department < terms.max_department
        and counts.at_hospital < terms.max_hospital
    )


def _hold_take_sqlite(terms: HoldTerms, params: dict[str, Any]) -> Taken:
    """The same steps, one statement each, in the caller's IMMEDIATE transaction (the database
    is locked for writing from its first statement: nobody counts or claims meanwhile)."""
    with connection.cursor() as cursor:
        cursor.execute(_counts_sql(), params)
        row = cursor.fetchone()
        if row is None:
            return Taken(person_hash=None, counts=None)
        found = _counts(row)
        person = row[5]
        if not allowed(found, terms):
            return Taken(person, found)
        cursor.execute(_claim_sql(terms), params)
        slot = cursor.fetchone()
        if slot is None and terms.fallback is not None and terms.number is None:
            cursor.execute(_from_fallback(_claim_sql(terms)), params)  # the phone desk's share is gone
            slot = cursor.fetchone()
        if slot is None:
            return Taken(person, found)
        slot_id, period_id, number, pool = slot
        claimed = params | {"person": person, "period_id": period_id, "slot_id": slot_id}
        cursor.execute(SQLITE_HOLD, claimed)
        hold_id = cursor.fetchone()[0]
        cursor.execute(SQLITE_EVENT, params | {"hold": hold_id, "data": json.dumps({"slot_number": number})})
        told = {"hold_id": hold_id, "account_id": terms.account_id, "schedule_id": terms.schedule_id}
        told["expires_at"] = terms.expires_at.isoformat()
        cursor.execute(SQLITE_TOLD, params | {"data": json.dumps(told)})
    return Taken(person, found, hold_id=hold_id, slot_id=slot_id, period_id=period_id, number=number, pool=pool)
