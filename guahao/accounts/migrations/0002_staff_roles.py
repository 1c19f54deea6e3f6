import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def platform_staff_become_platform_admins(apps, schema_editor):
    """Staff without a hospital saw every hospital: they keep that as platform admins."""
    apps.get_model("accounts", "StaffProfile").objects.filter(hospital__isnull=True).update(role="platform_admin")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0001_initial'),
        ('catalog', '0002_department_his_code_doctor_his_code'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='StaffEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, verbose_name='at')),
                ('kind', models.CharField(choices=[('login', 'Logged in'), ('login_failed', 'Failed login'), ('locked_out', 'Locked out'), ('lock_lifted', 'Lock lifted'), ('otp_enrolled', 'Second factor enrolled'), ('otp_failed', 'Wrong second-factor code'), ('otp_reset', 'Second factor reset'), ('staff_created', 'Staff member created'), ('role_changed', 'Role or hospital changed'), ('permissions_changed', 'Permissions of a role changed'), ('staff_changed', 'Staff member changed')], max_length=30, verbose_name='kind')),
                ('actor', models.CharField(blank=True, max_length=150, verbose_name='by')),
                ('target', models.CharField(blank=True, max_length=150, verbose_name='staff member')),
                ('ip', models.GenericIPAddressField(blank=True, null=True, verbose_name='IP address')),
                ('detail', models.JSONField(blank=True, default=dict, verbose_name='detail')),
            ],
            options={
                'verbose_name': 'staff access event',
                'verbose_name_plural': 'staff access log',
                'ordering': ['-at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='staffprofile',
            name='role',
            field=models.CharField(choices=[('platform_admin', 'Platform admin'), ('hospital_admin', 'Hospital admin'), ('operator', 'Operator'), ('finance', 'Finance'), ('viewer', 'Viewer')], default='viewer', max_length=20, verbose_name='role'),
        ),
        migrations.RunPython(platform_staff_become_platform_admins, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='staffprofile',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('role', 'platform_admin'), ('hospital__isnull', True)), models.Q(models.Q(('role', 'platform_admin'), _negated=True), ('hospital__isnull', False)), _connector='OR'), name='staff_hospital_unless_platform_admin'),
        ),
        migrations.AddField(
            model_name='staffevent',
            name='hospital',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='catalog.hospital', verbose_name='hospital'),
        ),
    ]
