"""The settings of messages fail at start, naming the variable, on a bad value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def start(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-c",
            "import guahao.settings as s; print(s.SMS_QUIET_HOURS, s.SMS_DAILY_LIMIT, s.REMINDER_DAY_BEFORE_AT)",
        ],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"GUAHAO_SMS_QUIET_HOURS": "22-7"}, "GUAHAO_SMS_QUIET_HOURS='22-7' must be HH:MM-HH:MM or off"),
        ({"GUAHAO_SMS_QUIET_HOURS": "07:00-07:00"}, "GUAHAO_SMS_QUIET_HOURS='07:00-07:00' is an empty window"),
        ({"GUAHAO_SMS_DAILY_LIMIT": "0"}, "GUAHAO_SMS_DAILY_LIMIT=0 is outside 1..1000"),
        ({"GUAHAO_REMINDER_DAY_BEFORE_AT": "6pm"}, "GUAHAO_REMINDER_DAY_BEFORE_AT='6pm' must be HH:MM or off"),
        ({"GUAHAO_EMAIL_BACKEND": "sendmail"}, "GUAHAO_EMAIL_BACKEND='sendmail' must be one of console, smtp, off"),
        (
            {"GUAHAO_SMS_BACKEND": "aliyun"},
            "GUAHAO_ALIYUN_SMS_ACCESS_KEY_ID must be set when GUAHAO_SMS_BACKEND=aliyun",
        ),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(env, named):
    started = start(**env)
    assert started.returncode != 0 and named in started.stderr


def test_the_defaults_and_off():
    assert start().stdout.split() == ["(datetime.time(22,", "0),", "datetime.time(7,", "0))", "10", "18:00:00"]
    assert start(GUAHAO_SMS_QUIET_HOURS="off", GUAHAO_REMINDER_DAY_BEFORE_AT="off").stdout.split() == [
        "None",
        "10",
        "None",
    ]
