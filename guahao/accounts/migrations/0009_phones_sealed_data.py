"""Phones sealed at rest (2/3): every stored phone sealed, hashed and masked, the plain copy
emptied. Back: the phones opened again (login codes, kept by hash only, are withdrawn: whoever was
logging in asks for a new one)."""

from django.db import migrations

from guahao.accounts import phones

BATCH = 1000


def seal(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    for name in ("Account", "Patient"):
        model = apps.get_model("accounts", name)
        for row in model.objects.exclude(phone=None).only("pk", "phone").iterator(chunk_size=BATCH):
            model.objects.filter(pk=row.pk).update(
                phone=None,
                phone_encrypted=phones.encrypt(row.phone),
                phone_hash=phones.lookup_hash(row.phone),
                phone_masked=phones.mask(row.phone),
            )
    SmsCode = apps.get_model("accounts", "SmsCode")
    for row in SmsCode.objects.exclude(phone=None).only("pk", "phone").iterator(chunk_size=BATCH):
        SmsCode.objects.filter(pk=row.pk).update(
            phone=None, phone_hash=phones.lookup_hash(row.phone), phone_masked=phones.mask(row.phone)
        )


def open_again(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    for name in ("Account", "Patient"):
        model = apps.get_model("accounts", name)
        for row in model.objects.exclude(phone_encrypted="").only("pk", "phone_encrypted").iterator(chunk_size=BATCH):
            model.objects.filter(pk=row.pk).update(phone=phones.decrypt(row.phone_encrypted))
    apps.get_model("accounts", "SmsCode").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_phones_sealed_columns")]

    operations = [migrations.RunPython(seal, open_again)]
