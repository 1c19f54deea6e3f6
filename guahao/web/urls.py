from django.urls import path

from guahao.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("hospitals/<int:hospital_id>/", views.hospital, name="hospital"),
    path("departments/<int:department_id>/", views.department, name="department"),
    path("doctors/<int:doctor_id>/", views.doctor, name="doctor"),
    path("schedules/<int:schedule_id>/", views.schedule, name="schedule"),
    path("schedules/<int:schedule_id>/hold", views.hold_create, name="hold-create"),
    path("schedules/<int:schedule_id>/waitlist", views.waitlist_join, name="waitlist-join"),
    path("holds/<int:hold_id>/", views.hold, name="hold"),
    path("holds/<int:hold_id>/confirm", views.hold_confirm, name="hold-confirm"),
    path("holds/<int:hold_id>/release", views.hold_release, name="hold-release"),
    path("registrations/", views.registrations, name="registrations"),
    path("registrations/<int:registration_id>/", views.registration, name="registration"),
    path("registrations/<int:registration_id>/rate", views.registration_rate, name="registration-rate"),
    path("registrations/<int:registration_id>/cancel", views.registration_cancel, name="registration-cancel"),
    path(
        "registrations/<int:registration_id>/reschedule", views.registration_reschedule, name="registration-reschedule"
    ),
    path("waitlist/", views.waitlist_entries, name="waitlist"),
    path("waitlist/<int:entry_id>/leave", views.waitlist_leave, name="waitlist-leave"),
    path("patients/", views.patients, name="patients"),
    path("patients/<int:patient_id>/", views.patient, name="patient"),
    path("patients/<int:patient_id>/remove", views.patient_remove, name="patient-remove"),
    path("messages/", views.messages, name="messages"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
]
