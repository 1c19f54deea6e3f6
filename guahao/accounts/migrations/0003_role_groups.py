from django.db import migrations

from guahao.accounts.roles import roles_sync


def create_roles(apps, schema_editor):
    roles_sync(apps)


class Migration(migrations.Migration):
    """The five roles as groups with their permissions (accounts.roles)."""

    dependencies = [
        ("accounts", "0002_staff_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("booking", "0002_hold_his_lock_ref_hold_his_registration_ref"),
        ("catalog", "0002_department_his_code_doctor_his_code"),
        ("core", "0001_idempotent_requests"),
        ("his", "0002_his_connection_key"),
        ("notifications", "0001_initial"),
        ("payments", "0002_reconciliation"),
        ("scheduling", "0002_schedule_his_id_alter_slot_state"),
        ("otp_totp", "0003_add_timestamps"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
