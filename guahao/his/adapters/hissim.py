"""The REST adapter for the bundled HIS simulator's interface (``guahao.his.simulator``).

Every request is signed; a request that gets no answer in ``timeout`` seconds (or whose answer
is cut off) raises ``HisError(timeout=True)``: the HIS may have done it.
"""

from __future__ import annotations

import hmac
import http.client
import json
import urllib.error
import urllib.request
from urllib.parse import urlencode, urlsplit

from guahao.core.metrics import outside_call
from guahao.core.signing import authorization, fresh, sign
from guahao.his.interface import (
    HisChange,
    HisError,
    HisLock,
    HisPatient,
    HisRefused,
    HisRegistration,
    HisSchedule,
    HisSlot,
)
from guahao.his.simulator.server import SCHEME


class HissimAdapter:
    def __init__(self, *, base_url: str, hospital_code: str, key: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.hospital_code = hospital_code
        self.key = key
        self.timeout = timeout

    @outside_call("his")
    def _call(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
        data = json.dumps(body, ensure_ascii=False) if body is not None else ""
        full = f"{self.base_url}/his/v1{path}" + (f"?{urlencode(query)}" if query else "")
        auth = authorization(
            SCHEME,
            key=self.key,
            method=method,
            path=urlsplit(full).path,
            body=data,
            hospital=self.hospital_code,
        )
        request = urllib.request.Request(  # noqa: S310 - the configured HIS address
            full,
            data=data.encode() if body is not None else None,
            headers={"Authorization": auth, "Content-Type": "application/json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            if 400 <= exc.code < 500 and exc.code not in (401, 429):
                raise HisRefused(str(answer.get("code", exc.code)), str(answer.get("message", ""))) from exc
            raise HisError(f"HIS answered {exc.code}", permanent=exc.code == 401) from exc
        except (TimeoutError, http.client.RemoteDisconnected, ConnectionResetError) as exc:
            raise HisError(f"no answer from the HIS: {exc!r}", timeout=True) from exc
        except urllib.error.URLError as exc:
            # Refused or unreachable: the request never arrived. A timeout wrapped in URLError
            # may have.
            timed_out = isinstance(exc.reason, TimeoutError)
            raise HisError(f"HIS unreachable: {exc.reason!r}", timeout=timed_out) from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise HisError(f"HIS answer unreadable: {exc!r}", timeout=True) from exc

    def catalog(self) -> tuple[list[dict], list[dict]]:
        answer = self._call("GET", "/catalog")
        return answer["departments"], answer["doctors"]

    @staticmethod
    def _schedule(raw: dict) -> HisSchedule:
        slots = [HisSlot(**s) for s in raw.pop("slots", [])]
        return HisSchedule(**raw, slots=slots)

    def schedules(self, *, start: str, end: str) -> list[HisSchedule]:
        answer = self._call("GET", "/schedules", query={"from": start, "to": end})
        return [self._schedule(s) for s in answer["schedules"]]

    def schedule(self, *, schedule_id: str) -> HisSchedule:
        return self._schedule(self._call("GET", f"/schedules/{schedule_id}"))

    def lock(
        self, *, schedule_id: str, ref: str, minutes: int, period_starts_at: str | None, waitlist: bool = False
    ) -> HisLock:
        body: dict = {"schedule_id": schedule_id, "ref": ref, "minutes": minutes}
        if waitlist:
            body["waitlist"] = True
        if period_starts_at:
            body["period_starts_at"] = period_starts_at
        answer = self._call("POST", "/locks", body)
        return HisLock(ref=answer["ref"], schedule_id=answer["schedule_id"], number=answer["number"])

    def release(self, *, ref: str) -> None:
        self._call("POST", f"/locks/{ref}/release", {})

    @staticmethod
    def _registration(raw: dict) -> HisRegistration:
        return HisRegistration(
            ref=raw["ref"],
            schedule_id=raw["schedule_id"],
            number=raw["number"],
            status=raw["status"],
            channel=raw.get("channel", ""),
            lock_ref=raw.get("lock_ref", ""),
        )

    def register(
        self, *, ref: str, schedule_id: str, number: int, lock_ref: str | None, patient: dict
    ) -> HisRegistration:
        body = {
            "ref": ref,
            "schedule_id": schedule_id,
            "number": number,
            "lock_ref": lock_ref or "",
            "patient": patient,
        }
        return self._registration(self._call("POST", "/registrations", body))

    def cancel(self, *, ref: str) -> HisRegistration | None:
        try:
            return self._registration(self._call("POST", f"/registrations/{ref}/cancel", {}))
        except HisRefused as exc:
            if exc.code == "NO_REGISTRATION":
                return None
            raise

    def registrations(self, *, start: str, end: str) -> list[HisRegistration]:
        answer = self._call("GET", "/registrations", query={"from": start, "to": end})
        return [self._registration(r) for r in answer["registrations"]]

    def patient_find(self, *, id_number: str) -> HisPatient | None:
        try:
            answer = self._call("POST", "/patients/lookup", {"id_number": id_number})
        except HisRefused as exc:
            if exc.code == "NO_PATIENT":
                return None
            raise
        return HisPatient(patient_id=answer["patient_id"], card_number=answer["card_number"])

    def patient_create(self, *, name: str, id_number: str, phone: str) -> HisPatient:
        answer = self._call("POST", "/patients", {"name": name, "id_number": id_number, "phone": phone})
        return HisPatient(patient_id=answer["patient_id"], card_number=answer["card_number"])

    def changes(self, *, after: int) -> list[HisChange]:
        answer = self._call("GET", "/changes", query={"after": after})
        return [HisChange(seq=c["seq"], id=c["id"], type=c["type"], data=c["data"]) for c in answer["changes"]]

    def event_valid(self, *, headers: dict[str, str], body: bytes) -> bool:
        ts, nonce, given = (headers.get(k, "") for k in ("His-Timestamp", "His-Nonce", "His-Signature"))
        if not (ts and nonce and given) or not fresh(ts):
            return False
        return hmac.compare_digest(given, sign(self.key, ts, nonce, body.decode(errors="replace")))
