"""The consent to processing personal information a patient (or a child's guardian) gives when
the patient is added: its text, and the version that names it in each recorded consent. A new
wording is a new version; consents already given keep the version they were given under."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

TEXT_VERSION = "2026-12"
# An API client adds patients under its own terms with its users; unless it names our text's
# version, the consent is recorded as given under those terms.
API_TERMS = "api"
VERSIONS = (TEXT_VERSION, API_TERMS)

TEXT = _(
    "I agree that this platform and the hospitals I book with process this person's name, ID "
    "number, phone number and registrations to register them by real name, book, pay, tell them "
    "and keep the records the law requires; the ID number and phone are stored encrypted and shown "
    "masked."
)
GUARDIAN_AGE = 14  # under it, a guardian consents (PIPL art. 31)
