from django.db import migrations

from guahao.accounts.roles import Role, roles_grant


def grant(apps, schema_editor):
    """Refunding without a cancellation is the operators', the hospital admin's and the window's
    (from its till); marking visits and no-shows, and undoing one, the operators' and the hospital
    admin's (accounts.roles). The call centre keeps booking, cancelling, moving and checking in."""
    roles_grant(
        apps,
        models=["booking.registration"],
        roles=[Role.OPERATOR, Role.HOSPITAL_ADMIN, Role.WINDOW_CLERK, Role.PLATFORM_ADMIN],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0016_finance_handles_differences"),
        ("booking", "0013_registration_refund_attendance_permissions"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
