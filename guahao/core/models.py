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


class AuditEntry(models.Model):
    """One staff action: who, when, what, on which row, the state before and after, and why.

    Written by the services that carry the action out (``core.audit.audit_record``). The
    hospital is kept as its id (the core knows no hospitals) so every console page narrows it as
    it narrows any hospital's rows; ``None`` is an action on the platform's own rows.
    """

    at = models.DateTimeField(_("at"), db_index=True)
    actor = models.CharField(_("by"), max_length=150, db_index=True)
    hospital_id = models.PositiveIntegerField(_("hospital"), null=True, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=40)
    target_type = models.CharField(_("kind of row"), max_length=30)
    target_id = models.CharField(_("row"), max_length=40, blank=True)
    target = models.CharField(_("concerning"), max_length=100, blank=True, db_index=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["hospital_id", "at"], name="audit_hospital_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
