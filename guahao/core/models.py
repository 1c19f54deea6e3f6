"""What the core keeps: the answers given to requests sent with an ``Idempotency-Key``."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotentRequest(models.Model):
    """One key of one client: what was asked (a fingerprint) and, once done, the answer given."""

    owner = models.CharField(_("client"), max_length=64)
    key = models.CharField(_("idempotency key"), max_length=255)
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("answer status"), null=True, blank=True)  # None: running
    response = models.JSONField(_("answer"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("idempotent request")
        verbose_name_plural = _("idempotent requests")
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_once_per_client")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
