from django.utils.translation import gettext_lazy as _

from guahao.core.problems import ProblemType

PHONE_INVALID = ProblemType("phone.invalid", 422, _("This is not a valid mainland mobile number"))
SMS_TOO_SOON = ProblemType("sms.too_soon", 429, _("A code was sent a moment ago; please wait before asking again"))
SMS_DAILY_LIMIT = ProblemType("sms.daily_limit", 429, _("Too many codes were sent to this phone today"))
SMS_FAILED = ProblemType("sms.failed", 502, _("The code could not be sent by SMS; please try again"))
CODE_WRONG = ProblemType("login.code_wrong", 401, _("The code is wrong or has expired"))
CODE_ATTEMPTS = ProblemType("login.too_many_attempts", 429, _("Too many wrong codes; ask for a new one"))
ID_NUMBER_INVALID = ProblemType("patient.id_number_invalid", 422, _("The ID number is not valid"))
NAME_INVALID = ProblemType("patient.name_invalid", 422, _("The name is not a real name as on the ID document"))
BIRTH_DATE_INVALID = ProblemType("patient.birth_date_invalid", 422, _("The birth date is not valid"))
GENDER_INVALID = ProblemType("patient.gender_invalid", 422, _("Choose the sex as on the ID document"))
PATIENT_IN_USE = ProblemType(
    "patient.in_use", 409, _("This patient has a booking still open and cannot be removed now")
)
IDENTITY_LOCKED = ProblemType(
    "patient.identity_locked",
    409,
    _(
        "The name and ID of a patient who has held, booked or joined a waitlist cannot be changed; remove the "
        "patient and add them again"
    ),
)
PATIENT_EXISTS = ProblemType("patient.exists", 409, _("This person is already one of your patients"))
SELF_EXISTS = ProblemType("patient.self_exists", 409, _("The account already has a patient marked as yourself"))
CONSENT_REQUIRED = ProblemType(
    "patient.consent_required", 422, _("Please agree to the processing of the patient's personal information")
)
GUARDIAN_REQUIRED = ProblemType(
    "patient.guardian_required", 422, _("A child under 14 is added by a guardian: please give the guardian's name")
)
PATIENT_LIMIT = ProblemType("patient.limit", 409, _("An account can manage at most 8 patients"))
STAFF_OWN_ROLE = ProblemType(
    "staff.own_role", 403, _("You cannot change your own role or hospital; ask another administrator")
)
STAFF_ROLE_NOT_ALLOWED = ProblemType("staff.role_not_allowed", 403, _("Only a platform admin can give this role"))
STAFF_PEER = ProblemType(
    "staff.peer", 403, _("Only a platform admin can change another hospital admin or a platform admin")
)
STAFF_HOSPITAL_NOT_YOURS = ProblemType("staff.hospital_not_yours", 403, _("This hospital is not one of yours"))
STAFF_HOSPITAL_REQUIRED = ProblemType(
    "staff.hospital_required", 422, _("Every role but the platform admin works for one hospital")
)
OTP_WRONG = ProblemType("staff.otp_wrong", 401, _("The code from the authenticator app is wrong or has expired"))
OTP_WAIT = ProblemType("staff.otp_wait", 429, _("Wait a moment before the next code"))
NAME_MISMATCH = ProblemType(
    "patient.name_mismatch", 422, _("The name does not match the one already registered for this ID number")
)
