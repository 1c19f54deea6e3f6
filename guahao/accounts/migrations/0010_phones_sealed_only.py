"""Phones sealed at rest (3/3): the plain columns gone; one account per phone, by its hash."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0009_phones_sealed_data")]

    operations = [
        migrations.RemoveField("account", "phone"),
        migrations.RemoveField("patient", "phone"),
        migrations.RemoveField("smscode", "phone"),
        migrations.AlterField("account", "phone_hash", models.CharField(editable=False, max_length=64, unique=True)),
    ]
