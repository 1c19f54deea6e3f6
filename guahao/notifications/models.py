from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from guahao.accounts.models import Account


class Message(models.Model):
    """A notification to an account. Stored as a kind and its facts, and worded when read, in
    the reader's language."""

    account = models.ForeignKey(Account, models.CASCADE, related_name="messages", verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=40)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.kind
