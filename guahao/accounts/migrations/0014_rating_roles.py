from django.db import migrations

from guahao.accounts.roles import roles_grant


def grant(apps, schema_editor):
    """Patients' ratings: every role sees them; operators and hospital admins publish or reject."""
    roles_grant(apps, models=["booking.rating"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0013_desk_roles'),
        ('booking', '0009_ratings'),
    ]

    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
