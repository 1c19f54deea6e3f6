"""Phones sealed at rest (1/3): the sealed, hashed and masked columns beside the plain one, which
may be empty from now on (so that going back can fill it again before it is required)."""

from django.db import migrations, models


def _columns(model: str, *, unique_hash_later: bool) -> list:
    return [
        migrations.AddField(
            model, "phone_encrypted", models.TextField(default="", editable=False), preserve_default=False
        ),
        migrations.AddField(
            model,
            "phone_hash",
            models.CharField(default="", editable=False, max_length=64, db_index=not unique_hash_later),
            preserve_default=False,
        ),
        migrations.AddField(
            model,
            "phone_masked",
            models.CharField(default="", editable=False, max_length=20, verbose_name="phone"),
            preserve_default=False,
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_waitlist_roles")]

    operations = [
        *_columns("account", unique_hash_later=True),
        *_columns("patient", unique_hash_later=False),
        migrations.AddField(
            "smscode", "phone_hash", models.CharField(default="", max_length=64, db_index=True), preserve_default=False
        ),
        migrations.AddField(
            "smscode", "phone_masked", models.CharField(default="", max_length=20), preserve_default=False
        ),
        migrations.AlterField(
            "account", "phone", models.CharField(max_length=20, null=True, unique=True, verbose_name="phone")
        ),
        migrations.AlterField("patient", "phone", models.CharField(max_length=20, null=True, verbose_name="phone")),
        migrations.AlterField("smscode", "phone", models.CharField(max_length=20, null=True, db_index=True)),
    ]
