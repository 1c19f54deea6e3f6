from django.db import migrations

from guahao.accounts.roles import roles_grant


def grant(apps, schema_editor):
    roles_grant(apps, models=["scheduling.scheduletemplate", "scheduling.calendarday", "scheduling.scheduleevent"])


class Migration(migrations.Migration):
    """The roles gain schedule templates, the hospital calendar and schedule changes (accounts.roles)."""

    dependencies = [
        ("accounts", "0004_staff_roles_and_lockouts_shown"),
        ("scheduling", "0003_templates_calendar_pools"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
