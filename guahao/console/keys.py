"""``guahao rotate-keys``: everything sealed or hashed under a previous field key, sealed and
hashed again under the current one (README, Personal data: rotating the key)."""

from __future__ import annotations

from django.db import transaction

from guahao.accounts import services as accounts
from guahao.booking import services as booking
from guahao.his import services as his
from guahao.notifications import services as notifications
from guahao.waitlist import services as waitlist


def keys_rotate() -> dict[str, int]:
    """One transaction: a person's hash changes in the patients and in every row that copies it
    at once, so limits and bars never see one person as two. Running it again changes nothing."""
    with transaction.atomic():
        changed, persons = accounts.personal_data_rekey()
        changed["person_rows"] = booking.person_hashes_replace(persons) + waitlist.person_hashes_replace(persons)
        changed["his_keys"] = his.connections_reseal()
        changed["wechat_secrets"] = notifications.channels_reseal()
    return changed
