"""The HIS simulator: a hospital information system run as its own process (``guahao hissim``).

It owns what a real HIS owns: the department and doctor lists, the schedules with their periods
and numbered slots (only the platform pool is offered to Guahao), locks, registrations, patient
records (建档), and a feed of changes. Its store is its own SQLite file; standard library only.

Signed interface (``Authorization: HISSIM hospital="<code>",timestamp,nonce,signature``, HMAC over
method, path, timestamp, nonce and body with the shared key; see ``guahao.core.signing``):

- ``GET /his/v1/catalog``: departments and doctors.
- ``GET /his/v1/schedules?from=YYYY-MM-DD&to=YYYY-MM-DD`` and ``GET /his/v1/schedules/{id}``:
  schedules with their platform-pool slots (``number``, period, ``state`` free/locked/booked and
  the ``ref`` and ``channel`` holding it).
- ``POST /his/v1/locks {schedule_id, ref, minutes, period_starts_at?, waitlist?}``: locks the first
  free slot (of the period) for ``minutes`` (1-60; a waitlist's lock, ``waitlist: true``, up to a
  day); idempotent by ``ref``. 409 ``NO_SLOT`` when none is free.
- ``POST /his/v1/locks/{ref}/release``: gives back whatever ``ref`` took, a live lock or a
  registration made from it; idempotent, an unknown ``ref`` releases nothing.
- ``POST /his/v1/registrations {ref, schedule_id, number, lock_ref?, patient}``: registers a slot
  (turning the lock into a registration when ``lock_ref`` is given); idempotent by ``ref``.
- ``POST /his/v1/registrations/{ref}/cancel``, ``GET /his/v1/registrations?from=&to=``.
- ``POST /his/v1/patients/lookup {id_number}`` and ``POST /his/v1/patients {name, id_number,
  phone}``: find or create the patient's record (idempotent by ID number).
- ``GET /his/v1/changes?after=N``: the feed of changes (schedules created, changed, suspended;
  registrations made or cancelled on other channels). Each change is also pushed, signed
  (``His-Timestamp``, ``His-Nonce``, ``His-Signature`` over timestamp, nonce and body), to the
  hospital's webhook until it answers 2xx.

Faults (``GUAHAO_HISSIM_FAULTS`` or ``--faults``, e.g. ``latency_ms=50,error=0.05,timeout=0.2,
lost=0.1``; read and changed at run time with ``GET``/``POST /control``) apply to the signed
interface: ``latency_ms`` delays every answer; ``error`` answers 500 having done nothing;
``timeout`` does the work half of the time, then hangs ``hang_ms`` and closes without an answer;
``lost`` does the work and closes without an answer; ``method=POST`` (or ``GET``) applies them to
writes (or reads) alone.

The hospital's own side, for demos and tests (unsigned, like the window): ``POST /admin/import``
(load a hospital, its catalog and schedules), ``/admin/schedules`` (a new schedule),
``/admin/schedules/{id}/change``, ``/admin/schedules/{id}/suspend``, ``/admin/registrations`` (a
slot taken on another channel), ``/admin/registrations/{ref}/cancel`` (cancelled at the window),
``/admin/patients`` (a record made at the window).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from guahao.core.signing import authorization_valid, parse_authorization, sign, stamp

SCHEME = "HISSIM"
PUSH_RETRY_SECONDS = [1, 2, 5, 10, 30, 60, 300]

SCHEMA = """
CREATE TABLE IF NOT EXISTS hospitals (code TEXT PRIMARY KEY, name TEXT NOT NULL, webhook_url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS departments (
  hospital TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, name_en TEXT NOT NULL DEFAULT '',
  parent_code TEXT NOT NULL DEFAULT '', PRIMARY KEY (hospital, code)
);
CREATE TABLE IF NOT EXISTS doctors (
  hospital TEXT NOT NULL, code TEXT NOT NULL, department_code TEXT NOT NULL, name TEXT NOT NULL,
  name_en TEXT NOT NULL DEFAULT '', title TEXT NOT NULL, PRIMARY KEY (hospital, code)
);
CREATE TABLE IF NOT EXISTS schedules (
  id TEXT PRIMARY KEY, hospital TEXT NOT NULL, department_code TEXT NOT NULL, doctor_code TEXT NOT NULL,
  date TEXT NOT NULL, session TEXT NOT NULL, starts_at TEXT NOT NULL, ends_at TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open', reason TEXT NOT NULL DEFAULT '',
  registration_fee_fen INTEGER NOT NULL, consultation_fee_fen INTEGER NOT NULL, location TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS slots (
  schedule_id TEXT NOT NULL REFERENCES schedules, number INTEGER NOT NULL, period_starts_at TEXT NOT NULL,
  period_ends_at TEXT NOT NULL, pool TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'free',
  ref TEXT NOT NULL DEFAULT '', channel TEXT NOT NULL DEFAULT '', lock_until REAL,
  PRIMARY KEY (schedule_id, number)
);
CREATE TABLE IF NOT EXISTS registrations (
  ref TEXT PRIMARY KEY, hospital TEXT NOT NULL, schedule_id TEXT NOT NULL, number INTEGER NOT NULL,
  channel TEXT NOT NULL, lock_ref TEXT NOT NULL DEFAULT '', patient_id TEXT NOT NULL DEFAULT '',
  patient_name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, created_at TEXT NOT NULL, cancelled_at TEXT
);
CREATE TABLE IF NOT EXISTS locks (
  ref TEXT PRIMARY KEY, schedule_id TEXT NOT NULL, number INTEGER NOT NULL, until REAL NOT NULL,
  state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS patients (
  id TEXT PRIMARY KEY, hospital TEXT NOT NULL, id_number TEXT NOT NULL, name TEXT NOT NULL,
  phone TEXT NOT NULL DEFAULT '', card_number TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (hospital, id_number)
);
CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, hospital TEXT NOT NULL, type TEXT NOT NULL,
  data TEXT NOT NULL, at TEXT NOT NULL, pushed_at REAL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL
);
"""


@dataclass
class Faults:
    latency_ms: int = 0
    error: float = 0.0  # answers 500, did nothing
    timeout: float = 0.0  # did it half of the time, then hangs and closes without an answer
    lost: float = 0.0  # did it, then closes without an answer
    hang_ms: int = 3000  # how long a timeout hangs (longer than the client waits)
    method: str = ""  # the faults apply to this method alone (GET: reads, POST: writes); "": every request
    push: bool = True  # push changes to the hospitals' webhooks

    def update(self, values: dict) -> None:
        for f in fields(self):
            if f.name in values:
                kind = type(getattr(self, f.name))
                value = values[f.name]
                setattr(self, f.name, value in (True, "1", "true", "yes") if kind is bool else kind(value))


def faults_from(text: str) -> Faults:
    """``latency_ms=50,error=0.05`` → Faults."""
    faults = Faults()
    faults.update(dict(item.strip().split("=", 1) for item in text.split(",") if "=" in item))
    return faults


def _now() -> str:
    return dt.datetime.now(tz=dt.UTC).isoformat()


def _utc(text: str) -> str:
    """Times are kept and compared in one form: ISO 8601 in UTC."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC).isoformat()


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str = "") -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


class His:
    """The store and the operations. One lock serialises them: a slot is never given twice."""

    def __init__(self, *, store: str, key: str, faults: Faults) -> None:
        self.db = sqlite3.connect(store, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self.lock = threading.RLock()
        self.depth = 0
        self.key = key
        self.faults = faults
        self.rng = random.Random()

    def all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return self.db.execute(sql, args).fetchall()

    def one(self, sql: str, *args: object) -> sqlite3.Row | None:
        return self.db.execute(sql, args).fetchone()

    def run(self, sql: str, *args: object) -> int:
        return self.db.execute(sql, args).rowcount

    def atomic(self) -> Any:
        """The store lock plus one SQLite transaction: all of an operation or none of it.
        Nested uses join the outer one."""
        his = self

        class _Atomic:
            def __enter__(self) -> None:
                his.lock.acquire()
                his.depth += 1
                if his.depth == 1:
                    his.db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: object, *_: object) -> None:
                try:
                    if his.depth == 1:
                        his.db.execute("ROLLBACK" if exc_type else "COMMIT")
                finally:
                    his.depth -= 1
                    his.lock.release()

        return _Atomic()

    # --- reading ---------------------------------------------------------------------------------

    def expire_locks(self) -> None:
        now = time.time()
        for row in self.all("SELECT ref, schedule_id, number FROM locks WHERE state = 'live' AND until <= ?", now):
            self.run("UPDATE locks SET state = 'expired' WHERE ref = ?", row["ref"])
            self.run(
                "UPDATE slots SET state = 'free', ref = '', channel = '', lock_until = NULL"
                " WHERE schedule_id = ? AND number = ? AND state = 'locked' AND ref = ?",
                row["schedule_id"],
                row["number"],
                row["ref"],
            )

    def schedule_out(self, row: sqlite3.Row) -> dict:
        slots = self.all("SELECT * FROM slots WHERE schedule_id = ? AND pool = 'platform' ORDER BY number", row["id"])
        return {
            k: row[k]
            for k in (
                "id",
                "department_code",
                "doctor_code",
                "date",
                "session",
                "starts_at",
                "ends_at",
                "status",
                "reason",
                "registration_fee_fen",
                "consultation_fee_fen",
                "location",
            )
        } | {
            "slots": [
                {k: s[k] for k in ("number", "period_starts_at", "period_ends_at", "state", "ref", "channel")}
                for s in slots
            ]
        }

    def schedule(self, hospital: str, schedule_id: str) -> dict:
        self.expire_locks()
        row = self.one("SELECT * FROM schedules WHERE id = ? AND hospital = ?", schedule_id, hospital)
        if row is None:
            raise Refused(404, "NO_SCHEDULE", schedule_id)
        return self.schedule_out(row)

    def schedules(self, hospital: str, start: str, end: str) -> dict:
        self.expire_locks()
        rows = self.all(
            "SELECT * FROM schedules WHERE hospital = ? AND date >= ? AND date <= ? ORDER BY date, starts_at, id",
            hospital,
            start,
            end,
        )
        return {"schedules": [self.schedule_out(r) for r in rows]}

    def catalog(self, hospital: str) -> dict:
        return {
            "departments": [dict(r) for r in self.all("SELECT * FROM departments WHERE hospital = ?", hospital)],
            "doctors": [dict(r) for r in self.all("SELECT * FROM doctors WHERE hospital = ?", hospital)],
        }

    def registrations(self, hospital: str, start: str, end: str) -> dict:
        rows = self.all(
            "SELECT r.* FROM registrations r JOIN schedules s ON s.id = r.schedule_id"
            " WHERE r.hospital = ? AND s.date >= ? AND s.date <= ? ORDER BY r.created_at",
            hospital,
            start,
            end,
        )
        return {"registrations": [self.registration_out(r) for r in rows]}

    @staticmethod
    def registration_out(row: sqlite3.Row) -> dict:
        return {k: row[k] for k in ("ref", "schedule_id", "number", "channel", "lock_ref", "patient_id", "status")}

    def changes(self, hospital: str, after: int) -> dict:
        rows = self.all("SELECT * FROM changes WHERE hospital = ? AND seq > ? ORDER BY seq LIMIT 500", hospital, after)
        return {"changes": [self.change_out(r) for r in rows]}

    @staticmethod
    def change_out(row: sqlite3.Row) -> dict:
        return {
            "seq": row["seq"],
            "id": row["id"],
            "type": row["type"],
            "data": json.loads(row["data"]),
            "at": row["at"],
        }

    # --- the platform's operations ---------------------------------------------------------------

    def _open_schedule(self, hospital: str, schedule_id: str) -> sqlite3.Row:
        row = self.one("SELECT * FROM schedules WHERE id = ? AND hospital = ?", schedule_id, hospital)
        if row is None:
            raise Refused(404, "NO_SCHEDULE", schedule_id)
        if row["status"] != "open":
            raise Refused(409, "SCHEDULE_SUSPENDED", row["reason"])
        return row

    def lock_slot(self, hospital: str, body: dict, channel: str) -> dict:
        ref, minutes = str(body.get("ref") or ""), body.get("minutes")
        # A waitlist's lock (seed 002's 候补锁号) may last a day: an offer made at 3 a.m. can be paid.
        longest = 1440 if body.get("waitlist") is True else 60
        if not ref or not isinstance(minutes, int) or not 1 <= minutes <= longest:
            raise Refused(400, "PARAM_ERROR", f"ref and minutes (1-{longest}) are required")
        with self.atomic():
            self.expire_locks()
            known = self.one("SELECT * FROM locks WHERE ref = ?", ref)
            if known is not None:
                if known["state"] not in ("live", "registered"):
                    raise Refused(409, "LOCK_ENDED", known["state"])
                return self.lock_out(known)
            schedule = self._open_schedule(hospital, str(body.get("schedule_id")))
            free = "SELECT number FROM slots WHERE schedule_id = ? AND pool = 'platform' AND state = 'free'"
            args: list[object] = [schedule["id"]]
            if body.get("period_starts_at"):
                free += " AND period_starts_at = ?"
                args.append(_utc(body["period_starts_at"]))
            slot = self.one(free + " ORDER BY number LIMIT 1", *args)
            if slot is None:
                raise Refused(409, "NO_SLOT", "no free slot")
            until = time.time() + minutes * 60
            self.run(
                "UPDATE slots SET state = 'locked', ref = ?, channel = ?, lock_until = ? WHERE schedule_id = ? AND number = ?",
                ref,
                channel,
                until,
                schedule["id"],
                slot["number"],
            )
            self.run(
                "INSERT INTO locks (ref, schedule_id, number, until, state) VALUES (?, ?, ?, ?, 'live')",
                ref,
                schedule["id"],
                slot["number"],
                until,
            )
            row = self.one("SELECT * FROM locks WHERE ref = ?", ref)
            assert row is not None
            return self.lock_out(row)

    @staticmethod
    def lock_out(row: sqlite3.Row) -> dict:
        until = dt.datetime.fromtimestamp(row["until"], tz=dt.UTC).isoformat()
        return {"ref": row["ref"], "schedule_id": row["schedule_id"], "number": row["number"], "expires_at": until}

    def release(self, ref: str) -> dict:
        with self.atomic():
            self.expire_locks()
            lock = self.one("SELECT * FROM locks WHERE ref = ?", ref)
            if lock is None:
                return {"ref": ref, "state": "unknown"}
            if lock["state"] == "live":
                self.run("UPDATE locks SET state = 'released' WHERE ref = ?", ref)
                self.run(
                    "UPDATE slots SET state = 'free', ref = '', channel = '', lock_until = NULL"
                    " WHERE schedule_id = ? AND number = ? AND ref = ?",
                    lock["schedule_id"],
                    lock["number"],
                    ref,
                )
            elif lock["state"] == "registered":
                # A registration made from this lock whose answer never came back: undo it too.
                for reg in self.all("SELECT ref FROM registrations WHERE lock_ref = ? AND status = 'booked'", ref):
                    self._cancel(reg["ref"], "platform")
                self.run("UPDATE locks SET state = 'released' WHERE ref = ?", ref)
            row = self.one("SELECT state FROM locks WHERE ref = ?", ref)
            return {"ref": ref, "state": row["state"] if row else "unknown"}

    def register(self, hospital: str, body: dict, channel: str) -> dict:
        ref = str(body.get("ref") or "")
        number, lock_ref = body.get("number"), str(body.get("lock_ref") or "")
        if not ref or not isinstance(number, int):
            raise Refused(400, "PARAM_ERROR", "ref and number are required")
        with self.atomic():
            self.expire_locks()
            known = self.one("SELECT * FROM registrations WHERE ref = ?", ref)
            if known is not None:
                return self.registration_out(known)
            schedule = self._open_schedule(hospital, str(body.get("schedule_id")))
            slot = self.one("SELECT * FROM slots WHERE schedule_id = ? AND number = ?", schedule["id"], number)
            if slot is None:
                raise Refused(404, "NO_SLOT", f"no slot {number}")
            if lock_ref:
                lock = self.one("SELECT * FROM locks WHERE ref = ?", lock_ref)
                if lock is None or lock["state"] != "live" or lock["number"] != number:
                    raise Refused(409, "LOCK_ENDED", "the lock is not live")
                self.run("UPDATE locks SET state = 'registered' WHERE ref = ?", lock_ref)
            elif slot["state"] != "free":
                raise Refused(409, "SLOT_TAKEN", f"slot {number} is {slot['state']}")
            patient = body.get("patient") or {}
            self.run(
                "UPDATE slots SET state = 'booked', ref = ?, channel = ?, lock_until = NULL WHERE schedule_id = ? AND number = ?",
                ref,
                channel,
                schedule["id"],
                number,
            )
            self.run(
                "INSERT INTO registrations (ref, hospital, schedule_id, number, channel, lock_ref, patient_id,"
                " patient_name, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'booked', ?)",
                ref,
                hospital,
                schedule["id"],
                number,
                channel,
                lock_ref,
                str(patient.get("his_patient_id") or ""),
                str(patient.get("name") or ""),
                _now(),
            )
            row = self.one("SELECT * FROM registrations WHERE ref = ?", ref)
            assert row is not None
            return self.registration_out(row)

    def _cancel(self, ref: str, by: str) -> sqlite3.Row | None:
        row = self.one("SELECT * FROM registrations WHERE ref = ?", ref)
        if row is None:
            return None
        if self.run(
            "UPDATE registrations SET status = 'cancelled', cancelled_at = ? WHERE ref = ? AND status = 'booked'",
            _now(),
            ref,
        ):
            self.run(
                "UPDATE slots SET state = 'free', ref = '', channel = '' WHERE schedule_id = ? AND number = ? AND ref = ?",
                row["schedule_id"],
                row["number"],
                ref,
            )
        return self.one("SELECT * FROM registrations WHERE ref = ?", ref)

    def cancel(self, hospital: str, ref: str) -> dict:
        with self.atomic():
            row = self._cancel(ref, "platform")
            if row is None or row["hospital"] != hospital:
                raise Refused(404, "NO_REGISTRATION", ref)
            return self.registration_out(row)

    def patient_lookup(self, hospital: str, body: dict) -> dict:
        row = self.one(
            "SELECT * FROM patients WHERE hospital = ? AND id_number = ?",
            hospital,
            str(body.get("id_number", "")).upper(),
        )
        if row is None:
            raise Refused(404, "NO_PATIENT", "no record")
        return {"patient_id": row["id"], "card_number": row["card_number"], "name": row["name"]}

    def patient_create(self, hospital: str, body: dict) -> dict:
        id_number, name = str(body.get("id_number", "")).upper(), str(body.get("name", ""))
        if not id_number or not name:
            raise Refused(400, "PARAM_ERROR", "name and id_number are required")
        with self.atomic():
            self.run(
                "INSERT OR IGNORE INTO patients (id, hospital, id_number, name, phone, card_number, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                "PT" + secrets.token_hex(6).upper(),
                hospital,
                id_number,
                name,
                str(body.get("phone", "")),
                f"{self.rng.randrange(10**11):011d}",
                _now(),
            )
        return self.patient_lookup(hospital, {"id_number": id_number})

    # --- the hospital's side -----------------------------------------------------------------------

    def change(self, hospital: str, kind: str, data: dict) -> None:
        """Record a change for the feed and the webhook. Call inside ``atomic``."""
        self.run(
            "INSERT INTO changes (id, hospital, type, data, at, next_at) VALUES (?, ?, ?, ?, ?, ?)",
            secrets.token_hex(10),
            hospital,
            kind,
            json.dumps(data, ensure_ascii=False),
            _now(),
            time.time(),
        )

    def _insert_schedule(self, hospital: str, s: dict) -> None:
        self.run(
            "INSERT INTO schedules (id, hospital, department_code, doctor_code, date, session, starts_at, ends_at,"
            " status, reason, registration_fee_fen, consultation_fee_fen, location)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            s["id"],
            hospital,
            s["department_code"],
            s.get("doctor_code", ""),
            s["date"],
            s["session"],
            _utc(s["starts_at"]),
            _utc(s["ends_at"]),
            s.get("status", "open"),
            s.get("reason", ""),
            int(s.get("registration_fee_fen", 0)),
            int(s.get("consultation_fee_fen", 0)),
            s.get("location", ""),
        )
        for slot in s["slots"]:
            self.run(
                "INSERT INTO slots (schedule_id, number, period_starts_at, period_ends_at, pool, state, ref, channel)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                s["id"],
                slot["number"],
                _utc(slot["period_starts_at"]),
                _utc(slot["period_ends_at"]),
                slot.get("pool", "platform"),
                slot.get("state", "free"),
                slot.get("ref", ""),
                slot.get("channel", ""),
            )
            if slot.get("state") == "booked" and slot.get("ref"):
                self.run(
                    "INSERT OR IGNORE INTO registrations (ref, hospital, schedule_id, number, channel, status, created_at)"
                    " VALUES (?, ?, ?, ?, ?, 'booked', ?)",
                    slot["ref"],
                    hospital,
                    s["id"],
                    slot["number"],
                    slot.get("channel", "platform"),
                    _now(),
                )

    def admin_import(self, body: dict) -> dict:
        """Load a hospital as it stands (the first connection of a hospital to the platform).
        Schedules already here are kept as they are: the HIS is the owner of its slots."""
        h = body["hospital"]
        with self.atomic():
            self.run(
                "INSERT INTO hospitals (code, name, webhook_url) VALUES (?, ?, ?)"
                " ON CONFLICT (code) DO UPDATE SET name = excluded.name, webhook_url = excluded.webhook_url",
                h["code"],
                h["name"],
                h.get("webhook_url", ""),
            )
            for d in body.get("departments", []):
                self.run(
                    "INSERT OR REPLACE INTO departments (hospital, code, name, name_en, parent_code) VALUES (?, ?, ?, ?, ?)",
                    h["code"],
                    d["code"],
                    d["name"],
                    d.get("name_en", ""),
                    d.get("parent_code", ""),
                )
            for d in body.get("doctors", []):
                self.run(
                    "INSERT OR REPLACE INTO doctors (hospital, code, department_code, name, name_en, title)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    h["code"],
                    d["code"],
                    d["department_code"],
                    d["name"],
                    d.get("name_en", ""),
                    d["title"],
                )
            added = 0
            for s in body.get("schedules", []):
                if self.one("SELECT 1 FROM schedules WHERE id = ?", s["id"]) is None:
                    self._insert_schedule(h["code"], s)
                    added += 1
        return {"hospital": h["code"], "schedules_added": added}

    def admin_schedule_create(self, body: dict) -> dict:
        hospital = body["hospital"]
        with self.atomic():
            self._insert_schedule(hospital, body)
            snapshot = self.schedule(hospital, body["id"])
            self.change(hospital, "schedule.created", {"schedule": snapshot})
        return snapshot

    def admin_schedule_change(self, schedule_id: str, body: dict) -> dict:
        with self.atomic():
            row = self.one("SELECT * FROM schedules WHERE id = ?", schedule_id)
            if row is None:
                raise Refused(404, "NO_SCHEDULE", schedule_id)
            for name in ("location", "registration_fee_fen", "consultation_fee_fen", "starts_at", "ends_at"):
                if name in body:
                    value = _utc(body[name]) if name.endswith("_at") else body[name]
                    self.run(f"UPDATE schedules SET {name} = ? WHERE id = ?", value, schedule_id)  # noqa: S608
            if "starts_at" in body:  # the clinic moved: its half-hours move with it, as a HIS moves them
                shift = dt.datetime.fromisoformat(_utc(body["starts_at"])) - dt.datetime.fromisoformat(row["starts_at"])
                for slot in self.all(
                    "SELECT number, period_starts_at, period_ends_at FROM slots WHERE schedule_id = ?", schedule_id
                ):
                    self.run(
                        "UPDATE slots SET period_starts_at = ?, period_ends_at = ? WHERE schedule_id = ? AND number = ?",
                        (dt.datetime.fromisoformat(slot["period_starts_at"]) + shift).isoformat(),
                        (dt.datetime.fromisoformat(slot["period_ends_at"]) + shift).isoformat(),
                        schedule_id,
                        slot["number"],
                    )
            for slot in body.get("add_slots", []):
                self.run(
                    "INSERT INTO slots (schedule_id, number, period_starts_at, period_ends_at, pool) VALUES (?, ?, ?, ?, ?)",
                    schedule_id,
                    slot["number"],
                    _utc(slot["period_starts_at"]),
                    _utc(slot["period_ends_at"]),
                    slot.get("pool", "platform"),
                )
            snapshot = self.schedule(row["hospital"], schedule_id)
            self.change(row["hospital"], "schedule.changed", {"schedule": snapshot})
        return snapshot

    def admin_suspend(self, schedule_id: str, body: dict) -> dict:
        with self.atomic():
            row = self.one("SELECT * FROM schedules WHERE id = ?", schedule_id)
            if row is None:
                raise Refused(404, "NO_SCHEDULE", schedule_id)
            self.run(
                "UPDATE schedules SET status = 'suspended', reason = ? WHERE id = ?",
                body.get("reason", ""),
                schedule_id,
            )
            snapshot = self.schedule(row["hospital"], schedule_id)
            self.change(row["hospital"], "schedule.suspended", {"schedule": snapshot})
        return snapshot

    def admin_register(self, body: dict) -> dict:
        """Another channel (the window, another platform) takes a slot of the platform pool."""
        channel = body.get("channel", "window")
        with self.atomic():
            self.expire_locks()
            sql = "SELECT number FROM slots WHERE schedule_id = ? AND pool = 'platform' AND state = 'free'"
            args: list[object] = [body["schedule_id"]]
            if "number" in body:
                sql += " AND number = ?"
                args.append(body["number"])
            slot = self.one(sql + " ORDER BY number LIMIT 1", *args)
            if slot is None:
                raise Refused(409, "NO_SLOT", "no free slot")
            schedule = self.one("SELECT hospital FROM schedules WHERE id = ?", body["schedule_id"])
            assert schedule is not None
            out = self.register(
                schedule["hospital"],
                {
                    "ref": f"{channel.upper()}-{secrets.token_hex(5)}",
                    "schedule_id": body["schedule_id"],
                    "number": slot["number"],
                },
                channel,
            )
            self.change(schedule["hospital"], "registration.created", out)
        return out

    def admin_cancel(self, ref: str, body: dict) -> dict:
        with self.atomic():
            row = self._cancel(ref, body.get("channel", "window"))
            if row is None:
                raise Refused(404, "NO_REGISTRATION", ref)
            out = self.registration_out(row) | {"cancelled_by": body.get("channel", "window")}
            self.change(row["hospital"], "registration.cancelled", out)
        return out

    def admin_patient(self, body: dict) -> dict:
        return self.patient_create(body["hospital"], body)

    # --- pushing changes -------------------------------------------------------------------------

    def push_due(self) -> None:
        if not self.faults.push:
            return
        with self.lock:
            rows = self.all(
                "SELECT c.*, h.webhook_url FROM changes c JOIN hospitals h ON h.code = c.hospital"
                " WHERE c.pushed_at IS NULL AND c.next_at <= ? AND h.webhook_url != '' ORDER BY c.seq LIMIT 50",
                time.time(),
            )
        for row in rows:
            ok = self._post(row["webhook_url"], json.dumps(self.change_out(row) | {"hospital": row["hospital"]}))
            attempts = row["attempts"] + 1
            wait = PUSH_RETRY_SECONDS[min(attempts - 1, len(PUSH_RETRY_SECONDS) - 1)]
            with self.lock:
                self.run(
                    "UPDATE changes SET attempts = ?, pushed_at = ?, next_at = ? WHERE seq = ?",
                    attempts,
                    time.time() if ok else None,
                    time.time() + wait,
                    row["seq"],
                )

    def _post(self, url: str, body: str) -> bool:
        ts, nonce = stamp()
        headers = {
            "Content-Type": "application/json",
            "His-Timestamp": ts,
            "His-Nonce": nonce,
            "His-Signature": sign(self.key, ts, nonce, body),
        }
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def background(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.push_due()
            except Exception as exc:  # noqa: BLE001 - the simulator keeps serving whatever happens
                print(f"[hissim] background: {exc!r}", flush=True)  # noqa: T201
            stop.wait(0.2)


def make_handler(his: His) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hissim/1"
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> None:
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                body = json.loads(raw) if raw else {}
                if parts == ["healthz"]:
                    return self._send(200, {"status": "ok"})
                if parts == ["control"]:
                    if self.command == "POST":
                        his.faults.update(body)
                    return self._send(200, asdict(his.faults))
                if parts[:1] == ["admin"] and self.command == "POST":
                    with his.atomic():
                        out = self._admin(parts[1:], body)
                    return self._send(200, out)
                if parts[:2] == ["his", "v1"]:
                    return self._signed(parts[2:], raw, body, query, url.path)
                return self._send(404, {"code": "NOT_FOUND", "message": self.path})
            except Refused as exc:
                return self._send(exc.status, {"code": exc.code, "message": exc.message})
            except (KeyError, ValueError, TypeError) as exc:
                return self._send(400, {"code": "PARAM_ERROR", "message": repr(exc)})

        def _admin(self, parts: list[str], body: dict) -> dict:
            if parts == ["import"]:
                return his.admin_import(body)
            if parts == ["schedules"]:
                return his.admin_schedule_create(body)
            if len(parts) == 3 and parts[0] == "schedules" and parts[2] == "change":
                return his.admin_schedule_change(parts[1], body)
            if len(parts) == 3 and parts[0] == "schedules" and parts[2] == "suspend":
                return his.admin_suspend(parts[1], body)
            if parts == ["registrations"]:
                return his.admin_register(body)
            if len(parts) == 3 and parts[0] == "registrations" and parts[2] == "cancel":
                return his.admin_cancel(parts[1], body)
            if parts == ["patients"]:
                return his.admin_patient(body)
            raise Refused(404, "NOT_FOUND", "/".join(parts))

        def _signed(self, parts: list[str], raw: str, body: dict, query: dict, path: str) -> None:
            header = self.headers.get("Authorization", "")
            hospital = parse_authorization(SCHEME, header).get("hospital", "")
            with his.lock:
                known = hospital and his.one("SELECT 1 FROM hospitals WHERE code = ?", hospital)
            if not known or not authorization_valid(
                SCHEME, header=header, key=his.key, method=self.command, path=path, body=raw
            ):
                return self._send(401, {"code": "SIGN_ERROR", "message": "signature missing or wrong"})
            faults = his.faults
            if faults.method and faults.method != self.command:
                faults = Faults(push=faults.push, hang_ms=faults.hang_ms)
            if faults.latency_ms:
                time.sleep(faults.latency_ms / 1000)
            if his.rng.random() < faults.error:
                return self._send(500, {"code": "SYSTEM_ERROR", "message": "injected failure"})
            hang = his.rng.random() < faults.timeout
            if hang and his.rng.random() < 0.5:
                return self._hang()  # timed out before doing anything
            try:
                with his.atomic():
                    status, out = 200, self._operation(hospital, parts, body, query)
            except Refused as exc:
                status, out = exc.status, {"code": exc.code, "message": exc.message}
            if hang:
                return self._hang()  # did it, but the answer comes too late
            if his.rng.random() < faults.lost:
                self.close_connection = True  # did it, and the answer is lost
                return None
            return self._send(status, out)

        def _hang(self) -> None:
            time.sleep(his.faults.hang_ms / 1000)
            self.close_connection = True

        def _operation(self, hospital: str, parts: list[str], body: dict, query: dict) -> dict:
            get, post = self.command == "GET", self.command == "POST"
            if get and parts == ["catalog"]:
                return his.catalog(hospital)
            if get and parts == ["schedules"]:
                return his.schedules(hospital, query.get("from", ""), query.get("to", "9999"))
            if get and len(parts) == 2 and parts[0] == "schedules":
                return his.schedule(hospital, parts[1])
            if post and parts == ["locks"]:
                return his.lock_slot(hospital, body, "platform")
            if post and len(parts) == 3 and parts[0] == "locks" and parts[2] == "release":
                return his.release(parts[1])
            if post and parts == ["registrations"]:
                return his.register(hospital, body, "platform")
            if get and parts == ["registrations"]:
                return his.registrations(hospital, query.get("from", ""), query.get("to", "9999"))
            if post and len(parts) == 3 and parts[0] == "registrations" and parts[2] == "cancel":
                return his.cancel(hospital, parts[1])
            if post and parts == ["patients", "lookup"]:
                return his.patient_lookup(hospital, body)
            if post and parts == ["patients"]:
                return his.patient_create(hospital, body)
            if get and parts == ["changes"]:
                return his.changes(hospital, int(query.get("after", "0")))
            raise Refused(404, "NOT_FOUND", "/".join(parts))

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            self._route()

        def do_POST(self) -> None:  # noqa: N802
            self._route()

    return Handler


def serve(*, host: str, port: int, store: str, key: str, faults: Faults) -> None:
    his = His(store=store, key=key, faults=faults)
    server = ThreadingHTTPServer((host, port), make_handler(his))
    server.daemon_threads = True
    stop = threading.Event()
    threading.Thread(target=his.background, args=(stop,), daemon=True).start()
    print(f"[hissim] HIS simulator on http://{host}:{port} (store {store}; faults {asdict(faults)})", flush=True)  # noqa: T201
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        server.server_close()
