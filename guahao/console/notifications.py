"""Console pages for messages to patients: every message sent or waiting on each channel, the
dead letters first with "send again"; each hospital's own wording of each kind of message per
language, with a preview of every kind in both languages; each hospital's senders (SMS signature
and templates, WeChat official account and templates, the day-before reminder's time)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from unfold.widgets import UnfoldAdminPasswordWidget

from guahao.catalog.models import Hospital
from guahao.console.base import ReadOnlyAdmin, ScopedAdmin, apply_each
from guahao.console.labels import message_title
from guahao.notifications import delivery, texts
from guahao.notifications import services as notifications
from guahao.notifications.kinds import KINDS
from guahao.notifications.models import HospitalChannels, Language, Message, MessageTemplate


def kind_choices() -> list[tuple[str, str]]:
    """Each kind by its title in the reader's language (the code stays the value)."""
    return [(name, message_title(name)) for name in KINDS]


class GivenUp(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "given_up"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Given up (dead letters): send again"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(delivery.dead_letters()) if self.value() == "yes" else queryset


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind_shown", "channel", "status", "attempts", "to_masked", "account", "hospital"]
    list_display += ["next_at", "sent_at", "last_error", "resent_by"]
    list_filter = [GivenUp, "status", "channel", "kind", "hospital"]
    search_fields = ["kind", "registration__registration_number", "dedup_key"]
    list_select_related = ["account", "hospital"]
    exclude = ["claim", "data"]  # the facts: shown worded
    readonly_fields = ["wording"]
    actions = ["send_again"]

    @admin.display(description=_("kind"), ordering="kind")
    def kind_shown(self, obj: Message) -> str:
        return message_title(obj.kind)

    @admin.display(description=_("as the patient reads it"))
    def wording(self, obj: Message) -> str:
        title, body = notifications.message_text(obj, obj.language)
        return format_html("<b>{}</b><br>{}", title, body)

    @admin.action(description=_("Send the selected messages again now"), permissions=["act"])
    def send_again(self, request: HttpRequest, queryset: QuerySet) -> None:
        by = request.user.get_username()
        apply_each(
            self,
            request,
            queryset,
            lambda message: notifications.message_send_again(message=message, by=by),
            str(_("Sent again")),
        )


def _check_names(text: str, field: str) -> None:
    unknown = texts.unknown_names(text)
    if unknown:
        raise forms.ValidationError(
            _("Unknown facts %(names)s in the %(field)s; the facts are: %(facts)s"),
            params={
                "names": ", ".join("{" + n + "}" for n in unknown),
                "field": field,
                "facts": ", ".join("{" + n + "}" for n in texts.FACTS),
            },
        )


class MessageTemplateForm(forms.ModelForm):
    kind = forms.ChoiceField(label=_("kind"), choices=kind_choices)

    class Meta:
        model = MessageTemplate
        fields = ["hospital", "kind", "language", "title", "body"]

    def clean_title(self) -> str:
        title = self.cleaned_data["title"]
        _check_names(title, str(_("message title")))
        return title

    def clean_body(self) -> str:
        body = self.cleaned_data["body"]
        _check_names(body, str(_("text")))
        return body


def _preview(kind: str, language: str, hospital_id: int | None) -> tuple[str, str]:
    title, body = texts.wording(kind=kind, language=language, hospital_id=hospital_id)
    facts = texts.sample_facts(language)
    return texts.fill(title, facts), texts.fill(body, facts)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ScopedAdmin):
    form = MessageTemplateForm
    list_display = ["kind", "language", "title", "hospital"]
    list_filter = ["hospital", "language", "kind"]
    readonly_fields = ["preview", "built_in"]
    change_list_template = "console/message_template_changelist.html"

    @admin.display(description=_("preview (with example facts)"))
    def preview(self, obj: MessageTemplate) -> str:
        if not obj.pk:
            return "-"
        facts = texts.sample_facts(obj.language)
        return format_html("<b>{}</b><br>{}", texts.fill(obj.title, facts), texts.fill(obj.body, facts))

    @admin.display(description=_("built-in wording"))
    def built_in(self, obj: MessageTemplate) -> str:
        spec = KINDS.get(obj.kind) if obj.pk else None
        if spec is None:
            english = (get_language() or "").startswith("en")
            return format_html_join(
                "",
                '<p><b>{}</b><br><span lang="zh-Hans">{}</span><br><span lang="en">{}</span></p>',
                ((s.en[0] if english else s.zh[0], s.zh[1], s.en[1]) for s in KINDS.values()),
            )
        title, body = spec.text(obj.language)
        return format_html(
            '<span lang="{}"><b>{}</b><br>{}</span>', "en" if obj.language == "en" else "zh-Hans", title, body
        )

    def save_model(self, request: HttpRequest, obj: MessageTemplate, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: texts.templates_changed(obj.hospital_id))
        texts.templates_changed(obj.hospital_id)

    def delete_model(self, request: HttpRequest, obj: MessageTemplate) -> None:
        super().delete_model(request, obj)
        texts.templates_changed(obj.hospital_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        hospitals = set(queryset.values_list("hospital_id", flat=True))
        super().delete_queryset(request, queryset)
        for hospital_id in hospitals:
            texts.templates_changed(hospital_id)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.preview_view)
        return [path("preview/", view, name="notifications_messagetemplate_preview"), *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """Every kind in both languages as the chosen hospital words it (its own template or the
        built-in one), filled with example facts; the length an SMS of it would have."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        hospitals = self.scope(request).narrow(Hospital.objects.all(), "pk")
        hospital = hospitals.filter(pk=request.GET.get("hospital") or 0).first() or hospitals.first()
        rows = []
        for name, spec in KINDS.items():
            worded = [_preview(name, lang, hospital.pk if hospital else None) for lang in Language.values]
            rows.append(
                {
                    "kind": name,
                    "channels": ", ".join(str(c) for c in spec.channels),
                    "service": spec.service,
                    "urgent": spec.urgent,
                    "languages": [
                        {"language": lang, "title": t, "body": b, "sms_length": len(t) + len(b) + 1}
                        for lang, (t, b) in zip(Language.values, worded, strict=True)
                    ],
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Messages as patients read them"),
            "opts": self.model._meta,
            "hospitals": hospitals,
            "hospital": hospital,
            "rows": rows,
        }
        return TemplateResponse(request, "console/message_preview.html", context)


def _template_map(value: Any, *, key: str, names: str) -> dict[str, Any]:
    """A JSON object of kind → {key: …, names: {field: text with {facts}}}, checked."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise forms.ValidationError(_("Not valid JSON")) from None
    if not isinstance(value, dict):
        raise forms.ValidationError(_("A JSON object, by kind of message"))
    for kind, entry in value.items():
        if kind not in KINDS:
            raise forms.ValidationError(_("Unknown kind of message: %(kind)s"), params={"kind": kind})
        if not isinstance(entry, dict) or not entry.get(key) or not isinstance(entry.get(names, {}), dict):
            raise forms.ValidationError(
                _('%(kind)s needs "%(key)s" and an object "%(names)s"'),
                params={"kind": kind, "key": key, "names": names},
            )
        for text in entry.get(names, {}).values():
            _check_names(str(text), kind)
    return value


class HospitalChannelsForm(forms.ModelForm):
    new_wechat_secret = forms.CharField(
        label=_("new WeChat AppSecret"),
        required=False,
        strip=True,
        widget=UnfoldAdminPasswordWidget(render_value=False),
        help_text=_("Stored sealed and never shown again. Empty keeps the current one."),
    )

    class Meta:
        model = HospitalChannels
        fields = ["hospital", "sms_sign_name", "sms_templates", "wechat_app_id", "wechat_templates", "reminder_time"]

    def clean_sms_templates(self) -> dict[str, Any]:
        return _template_map(self.cleaned_data.get("sms_templates"), key="code", names="params")

    def clean_wechat_templates(self) -> dict[str, Any]:
        return _template_map(self.cleaned_data.get("wechat_templates"), key="template_id", names="fields")


@admin.register(HospitalChannels)
class HospitalChannelsAdmin(ScopedAdmin):
    form = HospitalChannelsForm
    list_display = ["hospital", "sms_sign_name", "wechat_app_id", "has_wechat_secret", "reminder_time"]
    fields = ["hospital", "sms_sign_name", "sms_templates", "wechat_app_id", "new_wechat_secret"]
    fields += ["has_wechat_secret", "wechat_templates", "reminder_time"]
    readonly_fields = ["has_wechat_secret"]

    @admin.display(description=_("WeChat AppSecret set"), boolean=True)
    def has_wechat_secret(self, obj: HospitalChannels) -> bool:
        return bool(obj.wechat_secret_sealed)

    def save_model(self, request: HttpRequest, obj: HospitalChannels, form: Any, change: bool) -> None:
        if form.cleaned_data.get("new_wechat_secret"):
            obj.wechat_secret_set(form.cleaned_data["new_wechat_secret"])
        super().save_model(request, obj, form, change)
