"""Console pages for the schedules a hospital runs itself (排班): clinics added by hand, weekly
templates with generation (preview, then publish), the hospital calendar, extra slots (加号),
capacity, moves, suspension and re-opening, the week grid per department, and each clinic's
audit trail. Every change goes through the scheduling services (via ``his.services``, which
refuses a HIS-connected hospital's schedules: those come from its HIS)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from guahao.booking import services as booking
from guahao.booking.models import Registration, RegistrationStatus
from guahao.catalog.models import Department, Hospital
from guahao.console.base import ReadOnlyAdmin, ScopedAdmin, apply_each
from guahao.console.labels import event_label
from guahao.core import clock
from guahao.core.problems import Problem
from guahao.his import services as his
from guahao.scheduling import services as scheduling
from guahao.scheduling.models import (
    SESSION_MISMATCH,
    CalendarDay,
    Pool,
    Schedule,
    ScheduleEvent,
    ScheduleStatus,
    ScheduleTemplate,
    SlotState,
    session_fits,
)
from guahao.scheduling.rules import rules_for


def _detail(problem: Problem) -> str:
    return str(problem.as_dict()["detail"])


class ScheduleAddForm(forms.ModelForm):
    """A clinic by hand: its day, hours, periods and numbers, split between the pools."""

    start = forms.TimeField(label=_("starts at"), initial=dt.time(8, 0))
    end = forms.TimeField(label=_("ends at"), initial=dt.time(12, 0))
    period_minutes = forms.IntegerField(label=_("period length (minutes)"), min_value=5, max_value=240, initial=30)
    slots_per_period = forms.IntegerField(label=_("numbers per period"), min_value=1, max_value=100, initial=3)
    platform_share_percent = forms.IntegerField(
        label=_("platform pool share (%)"),
        min_value=0,
        max_value=100,
        required=False,
        help_text=_("Empty: the share in the hospital's rules."),
    )

    class Meta:
        model = Schedule
        fields = ["department", "doctor", "campus", "date", "session", "location"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", _("The clinic must end after it starts."))
        department, doctor = data.get("department"), data.get("doctor")
        if department and doctor and doctor.hospital_id != department.hospital_id:
            self.add_error("doctor", _("The doctor is not of this department's hospital."))
        if start and data.get("session") and not session_fits(data["session"], start):
            self.add_error("start", SESSION_MISMATCH)
        if department:
            try:
                his.schedules_owned_here(department.hospital_id)
            except Problem as problem:
                raise ValidationError(_detail(problem)) from None
        if department and data.get("date") and start and end and end > start and not self.errors:
            refused = scheduling.clinic_refusal(
                department=department,
                doctor=doctor,
                date=data["date"],
                start=start,
                end=end,
                location=data.get("location") or "",
            )
            if refused is not None:
                self.add_error(refused.extra.get("field") or None, _detail(refused))
        return data

    def validate_unique(self) -> None:  # the service decides; its refusal is shown by the admin
        pass


@admin.register(Schedule)
class ScheduleAdmin(ScopedAdmin):
    list_display = ["date", "session", "department", "doctor", "status", "location", "numbers"]
    list_filter = ["hospital", "status", "session", "date"]
    search_fields = ["department__name", "doctor__name"]
    date_hierarchy = "date"
    # Status, times, numbers and place change through the actions (services), never by hand:
    # a suspension cancels and refunds, a move tells the patients.
    readonly_fields = [
        "hospital",
        "department",
        "doctor",
        "campus",
        "date",
        "session",
        "status",
        "starts_at",
        "ends_at",
        "location",
        "suspended_reason",
        "yuan__registration_fee_fen",
        "yuan__consultation_fee_fen",
        "his_id",
        "template",
        "free_by_pool",
        "pool_returned_at",
    ]
    exclude = ["pool_returned_at", "phone_pool"]
    list_select_related = ["department", "doctor"]
    actions = ["suspend", "reopen", "add_extra_slots", "change_capacity", "move"]
    change_list_template = "console/schedule_changelist.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        taken = ~Q(slots__state__in=[SlotState.WITHDRAWN, SlotState.FREE])
        return (
            super()
            .get_queryset(request)
            .annotate(
                _capacity=Count("slots", filter=~Q(slots__state=SlotState.WITHDRAWN)),
                _taken=Count("slots", filter=taken),
            )
        )

    @admin.display(description=_("taken / numbers"))
    def numbers(self, obj: Schedule) -> str:
        return f"{getattr(obj, '_taken', 0)} / {getattr(obj, '_capacity', 0)}"

    @admin.display(description=_("free numbers by pool"))
    def free_by_pool(self, obj: Schedule) -> str:
        """Online, the phone desk's share (when the clinic has one) and the window's."""
        free = dict(
            obj.slots.filter(state=SlotState.FREE).values("pool").annotate(n=Count("pk")).values_list("pool", "n")
        )
        shown = [Pool.PLATFORM, *([Pool.PHONE] if obj.phone_pool or free.get(Pool.PHONE) else []), Pool.ONSITE]
        return " · ".join(f"{Pool(p).label} {free.get(p, 0)}" for p in shown)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ScheduleAddForm
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.readonly_fields if obj is not None else []

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """A clinic's page only shows it: every change is an action of the list (no save buttons)."""
        if request.method == "POST":
            raise PermissionDenied
        shown = {"show_save": False, "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **shown})

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [
                "department",
                "doctor",
                "campus",
                "date",
                "session",
                "start",
                "end",
                "period_minutes",
                "slots_per_period",
                "platform_share_percent",
                "location",
            ]
        return [f for f in self.readonly_fields if f != "pool_returned_at"]

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        if change:
            return  # nothing is edited by hand (see readonly_fields)
        data = form.cleaned_data
        share = data.get("platform_share_percent")
        if share is None:
            share = rules_for(
                hospital=data["department"].hospital,
                department=data["department"],
                doctor_id=data["doctor"].pk if data.get("doctor") else None,
            ).platform_share_percent
        made = his.schedule_add(
            actor=booking.Actor.staff(request.user),
            department=data["department"],
            doctor=data.get("doctor"),
            campus=data.get("campus"),
            date=data["date"],
            session=data["session"],
            start=data["start"],
            end=data["end"],
            period_minutes=data["period_minutes"],
            slots_per_period=data["slots_per_period"],
            platform_share_percent=share,
            location=data.get("location") or "",
        )
        obj.pk = made.pk
        obj.__dict__.update({k: v for k, v in made.__dict__.items() if not k.startswith("_")})

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (Problem, IntegrityError) as refused:  # a clinic made meanwhile: the change was rolled back
            text = _detail(refused) if isinstance(refused, Problem) else _("This doctor already has that clinic.")
            self.message_user(request, text, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    # --- the week grid -------------------------------------------------------------------------

    def get_urls(self) -> list:
        grid = self.admin_site.admin_view(self.week_view)
        return [path("week/", grid, name="scheduling_schedule_week"), *super().get_urls()]

    def week_view(self, request: HttpRequest) -> HttpResponse:
        """Doctors × days of one department's week, each clinic with its taken and free numbers."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        departments = self.scope(request).narrow(
            Department.objects.filter(schedules__isnull=False).distinct().select_related("hospital"), "hospital"
        )
        asked = request.GET.get("department", "")
        department = (departments.filter(pk=int(asked)).first() if asked.isdigit() else None) or departments.first()
        tz = department.hospital.timezone if department else "Asia/Shanghai"
        try:
            start = dt.date.fromisoformat(request.GET.get("start", ""))
        except ValueError:
            start = clock.local_today(tz)
        start -= dt.timedelta(days=start.weekday())
        days = [start + dt.timedelta(days=i) for i in range(7)]
        rows: dict[str, dict[dt.date, list[dict[str, Any]]]] = {}
        if department is not None:
            clinics = self.get_queryset(request).filter(department=department, date__range=(days[0], days[-1]))
            free = Count("slots", filter=Q(slots__state=SlotState.FREE))
            by_phone = Count("slots", filter=Q(slots__state=SlotState.FREE, slots__pool=Pool.PHONE))
            online = Count("slots", filter=Q(slots__state=SlotState.FREE, slots__pool=Pool.PLATFORM))
            clinics = clinics.annotate(_free=free, _free_phone=by_phone, _free_online=online)
            for s in clinics.select_related("doctor").order_by("doctor__name", "starts_at"):
                who = s.doctor.name if s.doctor else str(_("General clinic"))
                rows.setdefault(who, {d: [] for d in days})[s.date].append(
                    {
                        "schedule": s,
                        "time": s.starts_at.astimezone(ZoneInfo(tz)).strftime("%H:%M"),
                        "taken": s._taken,  # type: ignore[attr-defined]
                        "free": s._free,  # type: ignore[attr-defined]
                        "free_phone": s._free_phone,  # type: ignore[attr-defined]
                        "free_online": s._free_online,  # type: ignore[attr-defined]  # what patients can book
                        "url": reverse("admin:scheduling_schedule_change", args=[s.pk]),
                        "suspended": s.status == ScheduleStatus.SUSPENDED,
                    }
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Week of clinics"),
            "opts": self.model._meta,
            "departments": departments,
            "department": department,
            "days": days,
            "rows": [(who, [cells[d] for d in days]) for who, cells in rows.items()],
            "previous": (start - dt.timedelta(days=7)).isoformat(),
            "next": (start + dt.timedelta(days=7)).isoformat(),
        }
        return TemplateResponse(request, "console/schedule_week.html", context)

    # --- actions -------------------------------------------------------------------------------

    def _numbers(self, chosen: list[Schedule]) -> list[tuple[Schedule, int, int]]:
        return [(s, getattr(s, "_taken", 0), getattr(s, "_capacity", 0)) for s in chosen]

    def _ask(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        action: str,
        form_class: type[forms.Form],
        explanation: str,
        submit: str,
        apply: Callable[[Schedule, dict[str, Any], booking.Actor], object],
        done: str,
    ) -> TemplateResponse | None:
        chosen = list(queryset.select_related("hospital", "department", "doctor"))
        form = form_class(request.POST if request.POST.get("apply") else None)
        if request.POST.get("apply") and form.is_valid():
            actor = booking.Actor.staff(request.user)
            apply_each(self, request, chosen, lambda s: apply(s, form.cleaned_data, actor), done)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": done,
            "opts": self.model._meta,
            "schedules": self._numbers(chosen),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": action,
            "form": form,
            "explanation": explanation,
            "submit": submit,
        }
        return TemplateResponse(request, "console/schedule_form.html", context)

    @admin.action(description=_("Suspend the selected clinics (停诊)…"), permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """Asks for the reason first; then suspends each clinic as the HIS's 停诊 does."""
        chosen = list(queryset.select_related("hospital", "department", "doctor"))
        reason = request.POST.get("reason", "").strip()[:200]
        error = ""
        if request.POST.get("apply"):
            if reason:
                self._suspend_each(request, chosen, reason)
                return None
            error = str(_("Give the reason: every patient of the clinic reads it."))
        booked = dict(
            Registration.objects.filter(schedule__in=chosen, status=RegistrationStatus.BOOKED)
            .values("schedule")
            .annotate(n=Count("pk"))
            .values_list("schedule", "n")
        )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Suspend clinics"),
            "opts": self.model._meta,
            "schedules": [(s, booked.get(s.pk, 0)) for s in chosen],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "reason": reason,
            "error": error,
        }
        return TemplateResponse(request, "console/schedule_suspend.html", context)

    def _suspend_each(self, request: HttpRequest, chosen: list[Schedule], reason: str) -> None:
        actor = booking.Actor.staff(request.user)
        cancelled: list[int] = []

        def suspend(schedule: Schedule) -> None:
            cancelled.append(his.schedule_suspend(schedule=schedule, reason=reason, actor=actor))

        apply_each(self, request, chosen, suspend, str(_("Suspended clinics")))
        if cancelled:
            self.message_user(
                request,
                _("%(cancelled)d registrations cancelled and their patients told; what was paid goes back.")
                % {"cancelled": sum(cancelled)},
                messages.SUCCESS,
            )

    @admin.action(description=_("Re-open the selected suspended clinics"), permissions=["change"])
    def reopen(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = booking.Actor.staff(request.user)
        apply_each(self, request, queryset, lambda s: his.schedule_reopen(schedule=s, actor=actor), str(_("Re-opened")))

    @admin.action(description=_("Add extra slots (加号)…"), permissions=["change"])
    def add_extra_slots(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._ask(
            request,
            queryset,
            action="add_extra_slots",
            form_class=ExtraSlotsForm,
            explanation=str(
                _(
                    "Extra numbers come after the last one, online and free at once; the reason is kept in the audit trail."
                )
            ),
            submit=str(_("Add the extra slots")),
            apply=lambda s, d, actor: his.schedule_extra_slots_add(
                schedule=s, count=d["count"], reason=d["reason"], actor=actor
            ),
            done=str(_("Extra slots added")),
        )

    @admin.action(description=_("Change the capacity…"), permissions=["change"])
    def change_capacity(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._ask(
            request,
            queryset,
            action="change_capacity",
            form_class=CapacityForm,
            explanation=str(_("The numbers of each clinic; never fewer than are held or booked.")),
            submit=str(_("Change the capacity")),
            apply=lambda s, d, actor: his.schedule_capacity_set(schedule=s, capacity=d["capacity"], actor=actor),
            done=str(_("Capacity changed")),
        )

    @admin.action(description=_("Move the time or room…"), permissions=["change"])
    def move(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        return self._ask(
            request,
            queryset,
            action="move",
            form_class=MoveForm,
            explanation=str(_("Every patient booked is told the new time and room.")),
            submit=str(_("Move and tell the patients")),
            apply=lambda s, d, actor: his.schedule_move(
                schedule=s,
                actor=actor,
                start=d.get("start"),
                end=d.get("end"),
                location=d.get("location") or None,
                reason=d.get("reason") or "",
            ),
            done=str(_("Moved")),
        )


class ExtraSlotsForm(forms.Form):
    count = forms.IntegerField(label=_("how many"), min_value=1, max_value=50, initial=1)
    reason = forms.CharField(label=_("reason"), max_length=200)


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(label=_("numbers"), min_value=0, max_value=1000)


class MoveForm(forms.Form):
    start = forms.TimeField(label=_("starts at"), required=False)
    end = forms.TimeField(label=_("ends at"), required=False)
    location = forms.CharField(label=_("room"), max_length=100, required=False)
    reason = forms.CharField(label=_("reason"), max_length=200, required=False)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = ScheduleTemplate
        fields = ["hospital", *scheduling.TEMPLATE_FIELDS]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        hospital = data.get("hospital")
        if hospital is not None:
            try:
                his.schedules_owned_here(hospital.pk)
            except Problem as problem:
                raise ValidationError(_detail(problem)) from None
        for name in ("department", "doctor", "campus"):
            row = data.get(name)
            if hospital is not None and row is not None and row.hospital_id != hospital.pk:
                self.add_error(name, _("Not of this hospital."))
        return data


_BOXED = {"class": "border border-base-200 rounded-default px-3 py-2 font-normal dark:border-base-700 dark:bg-base-900"}


class GenerateForm(forms.Form):
    start = forms.DateField(
        label=_("from"), widget=forms.DateInput(attrs={**_BOXED, "type": "date"}, format="%Y-%m-%d")
    )
    weeks = forms.IntegerField(
        label=_("weeks"), min_value=1, max_value=12, initial=2, widget=forms.NumberInput(attrs=_BOXED)
    )
    department = forms.ModelChoiceField(
        label=_("department"), queryset=Department.objects.none(), required=False, widget=forms.Select(attrs=_BOXED)
    )


@admin.register(ScheduleTemplate)
class ScheduleTemplateAdmin(ScopedAdmin):
    form = TemplateForm
    list_display = ["department", "doctor", "weekday", "session", "start", "end", "capacity", "valid_from"]
    list_display += ["valid_until", "is_active"]
    list_filter = ["hospital", "weekday", "session", "is_active"]
    search_fields = ["department__name", "doctor__name"]
    list_select_related = ["department", "doctor"]
    change_list_template = "console/template_changelist.html"

    @admin.display(description=_("numbers"))
    def capacity(self, obj: ScheduleTemplate) -> int:
        return obj.capacity

    def save_model(self, request: HttpRequest, obj: ScheduleTemplate, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data.get(name) for name in scheduling.TEMPLATE_FIELDS}
        fields["location"] = fields["location"] or ""
        fields["fee_title"] = fields["fee_title"] or ""
        if change:
            saved = his.template_update(template=obj, **fields)
        else:
            saved = his.template_create(hospital=form.cleaned_data["hospital"], **fields)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: ScheduleTemplate) -> None:
        his.template_delete(template=obj)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.generate_view)
        return [path("generate/", view, name="scheduling_scheduletemplate_generate"), *super().get_urls()]

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        """Preview what the templates give for some weeks (to create, existing, differing,
        clashing, closed days), then publish: only the clinics to create are made."""
        if not request.user.has_perm("scheduling.add_schedule") or not self.has_view_permission(request):
            raise PermissionDenied
        scope = self.scope(request)
        hospitals = scope.narrow(ScheduleTemplate.objects.values_list("hospital", flat=True).distinct(), "hospital")
        hospital_ids = list(hospitals)
        own = scope.narrow(Hospital.objects.all(), "pk").first()
        today = clock.local_today(own.timezone if own else "Asia/Shanghai")
        form = GenerateForm(request.POST or None, initial={"start": today})
        choices = Department.objects.filter(schedule_templates__isnull=False).distinct()
        form.fields["department"].queryset = scope.narrow(choices, "hospital")  # type: ignore[attr-defined]
        outcome: list[dict[str, Any]] = []
        published = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            department = data.get("department")
            publish = bool(request.POST.get("publish"))
            targets = Hospital.objects.filter(pk__in=[department.hospital_id] if department else hospital_ids)
            for hospital in targets:
                try:
                    result = his.schedules_generate(
                        hospital=hospital,
                        start=data["start"],
                        days=data["weeks"] * 7,
                        department=department,
                        actor=request.user.get_username(),
                        dry_run=not publish,
                    )
                except Problem as problem:
                    self.message_user(request, f"{hospital}: {_detail(problem)}", messages.ERROR)
                    continue
                outcome += [p.as_dict() for p in (*result.created, *result.clashes, *result.skipped)]
                if publish:
                    published = (published or 0) + len(result.created)
            outcome.sort(key=lambda p: (p["date"], p["start"], p["department"], p["doctor"]))
            if published is not None:
                self.message_user(request, _("%(n)d clinics published.") % {"n": published}, messages.SUCCESS)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Generate clinics from the templates"),
            "opts": self.model._meta,
            "form": form,
            "outcome": outcome,
            "published": published,
            # Publishing follows a preview of the same weeks: the first screen only previews.
            "may_publish": bool(outcome) and published is None,
            "labels": {
                scheduling.CREATE: _("to create") if published is None else _("created"),
                scheduling.EXISTS: _("exists"),
                scheduling.DIFFERS: _("exists and differs"),
                scheduling.CLASH: _("clashes"),
                scheduling.CLOSED_DAY: _("holiday or closure"),
            },
        }
        return TemplateResponse(request, "console/schedule_generate.html", context)


class CalendarDayForm(forms.ModelForm):
    class Meta:
        model = CalendarDay
        fields = ["hospital", "department", "date", "kind", "name"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        hospital, department = data.get("hospital"), data.get("department")
        if hospital is not None and department is not None and department.hospital_id != hospital.pk:
            self.add_error("department", _("Not of this hospital."))
        return data


@admin.register(CalendarDay)
class CalendarDayAdmin(ScopedAdmin):
    form = CalendarDayForm
    list_display = ["date", "name", "kind", "department", "hospital"]
    list_filter = ["hospital", "kind"]
    date_hierarchy = "date"

    def save_model(self, request: HttpRequest, obj: CalendarDay, form: Any, change: bool) -> None:
        """A day closed keeps generation from making clinics on it; clinics already there stay
        open (their patients are told only by a suspension), so staff are told which."""
        super().save_model(request, obj, form, change)
        still_open = Schedule.objects.filter(hospital_id=obj.hospital_id, date=obj.date, status=ScheduleStatus.OPEN)
        if obj.department_id is not None:
            still_open = still_open.filter(department_id=obj.department_id)
        count = still_open.count()
        names = [str(s.doctor or s.department) for s in still_open.select_related("doctor", "department")[:20]]
        if count > len(names):
            names.append("…")
        if count:
            messages.warning(
                request,
                _(
                    "%(n)s clinics on this day stay open and bookable: %(which)s. Suspend each one (停诊) to close it and tell its patients."
                )
                % {"n": count, "which": "、".join(names)},
            )


@admin.register(ScheduleEvent)
class ScheduleEventAdmin(ReadOnlyAdmin):
    hospital_path = "schedule__hospital"
    list_display = ["at", "what", "actor", "reason", "schedule", "data"]
    list_filter = ["kind"]
    search_fields = ["actor", "reason"]
    list_select_related = ["schedule__department", "schedule__doctor"]

    @admin.display(description=_("kind"), ordering="kind")
    def what(self, obj: ScheduleEvent) -> str:
        return event_label(f"schedule.{obj.kind}")
