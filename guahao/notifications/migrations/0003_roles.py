from django.db import migrations

from guahao.accounts.roles import roles_grant


def grant(apps, schema_editor):
    roles_grant(
        apps, models=["notifications.message", "notifications.messagetemplate", "notifications.hospitalchannels"]
    )


class Migration(migrations.Migration):
    """The roles gain the messages (dead letters sent again), the hospitals' message templates and
    channels (accounts.roles)."""

    dependencies = [
        ("accounts", "0005_schedule_template_roles"),
        ("notifications", "0002_channels_outbox_preferences"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
