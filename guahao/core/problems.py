"""Refusals with stable codes, rendered as application/problem+json (API.md).

Each app lists its refusals in ``errors.py`` as ``ProblemType`` constants; services raise
``SOME_TYPE.error(detail=…)``. Titles and details are lazy translations, so the same refusal
reads in zh-Hans or English depending on the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str | Promise

    def error(self, detail: str | Promise | None = None, **extra: Any) -> Problem:
        return Problem(self, detail=detail, extra=extra)


class Problem(Exception):
    """A refusal a patient, staff member or integrator is meant to read."""

    def __init__(
        self,
        type_: ProblemType,
        *,
        detail: str | Promise | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(type_.code)
        self.type = type_
        self.detail = detail
        self.extra = extra or {}

    @property
    def code(self) -> str:
        return self.type.code

    @property
    def status(self) -> int:
        return self.type.status

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.type.code,
            "title": str(self.type.title),
            "detail": str(self.detail if self.detail is not None else self.type.title),
            "status": self.type.status,
        }
        # What a refusal adds never replaces the four members every problem has (RFC 9457).
        body.update((k, v) for k, v in self.extra.items() if k not in body)
        return body
