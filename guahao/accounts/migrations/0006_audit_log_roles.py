from django.db import migrations

from guahao.accounts.roles import roles_grant


def grant(apps, schema_editor):
    roles_grant(apps, models=["core.auditentry"])


class Migration(migrations.Migration):
    """Every role reads its hospital's audit log of staff actions (accounts.roles)."""

    dependencies = [
        ("accounts", "0005_schedule_template_roles"),
        ("core", "0002_audit_log"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
