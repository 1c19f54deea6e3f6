from django.db import migrations

from guahao.accounts.roles import Role, roles_grant


def grant(apps, schema_editor):
    """Finance marks reconciliation differences handled (accounts.roles); other roles keep what they have."""
    roles_grant(apps, models=["payments.reconciliationdifference"], roles=[Role.FINANCE])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0015_kiosk_devices"),
        ("payments", "0006_difference_handled"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
