from django.db import migrations

from guahao.accounts.roles import roles_grant


def grant(apps, schema_editor):
    roles_grant(apps, models=["waitlist.waitlistentry", "waitlist.waitlistdraw", "waitlist.waitlistevent"])


class Migration(migrations.Migration):
    """The roles gain the waitlist: every role reads its entries, draws and events; operators and
    hospital admins remove entries (accounts.roles)."""

    dependencies = [
        ("accounts", "0006_audit_log_roles"),
        ("waitlist", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
