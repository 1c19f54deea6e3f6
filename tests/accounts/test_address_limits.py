"""One address is limited on every patient login and code path — the web pages and the API
counting together, every web process sharing the count (the database without Redis, Redis at
scale) — and behind our proxies the address is the client's, not one it names itself."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection
from django.test import Client

from guahao.accounts.services import LOGINS_PER_ADDRESS, SMS_PER_ADDRESS
from guahao.core import clock
from tests import factories as f

pytestmark = pytest.mark.django_db


def _web_code(client: Client, phone: str) -> int:
    return client.post("/login/", {"phone": phone, "step": "phone"}).status_code


def _web_login(client: Client, phone: str) -> int:
    return client.post("/login/", {"phone": phone, "code": "000000", "step": "code"}).status_code


def test_one_address_asks_for_codes_on_the_web_and_the_api_within_one_limit(ratelimits):
    web, api = Client(), f.Api()
    answers = []
    for n in range(SMS_PER_ADDRESS):
        if n % 2:
            answers.append(_web_code(web, f.phone()))
        else:
            answers.append(api.call("POST", "/auth/sms-code", {"phone": f.phone()})[0])
    assert answers == [200] * SMS_PER_ADDRESS
    assert api.call("POST", "/auth/sms-code", {"phone": f.phone()})[1]["code"] == "rate_limited"
    refused = web.post("/login/", {"phone": f.phone(), "step": "phone"})
    assert refused.status_code == 429 and 'data-code="rate_limited"' in refused.content.decode()
    # Another address is not held back by this one.
    assert Client(REMOTE_ADDR="198.51.100.7").post("/login/", {"phone": f.phone(), "step": "phone"}).status_code == 200


def test_one_address_tries_logins_on_the_web_and_the_api_within_one_limit(ratelimits):
    web, api = Client(), f.Api()
    answers = [
        _web_login(web, f.phone())
        if n % 2
        else api.call("POST", "/auth/login", {"phone": f.phone(), "code": "000000"})[0]
        for n in range(LOGINS_PER_ADDRESS)
    ]
    assert answers == [401] * LOGINS_PER_ADDRESS  # wrong codes, each counted
    assert api.call("POST", "/auth/login", {"phone": f.phone(), "code": "000000"})[1]["code"] == "rate_limited"
    assert _web_login(web, f.phone()) == 429


@pytest.mark.django_db(transaction=True)
def test_the_count_is_shared_with_another_process(ratelimits, settings):
    if settings.REDIS_URL:
        pytest.skip("with Redis every process counts in Redis")
    # Another web process (a real one, on the same database) takes 40 of this address's logins.
    script = (
        "import django; django.setup()\n"
        "import datetime as dt, sys\n"
        "from guahao.core import clock, ratelimit\n"
        "clock.advance(dt.datetime.fromisoformat(sys.argv[1]) - clock.now())  # this test's time\n"
        "print(sum(ratelimit.allow('login-ip:203.0.113.9', limit=60, window_seconds=600, shared=True)"
        " for _ in range(40)))\n"
    )
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{connection.settings_dict['NAME']}", GUAHAO_RATELIMIT="on")
    env.pop("REDIS_URL", None)
    other = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script, clock.now().isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert other.stdout.strip() == "40"
    api = f.Api()
    api.client = Client(REMOTE_ADDR="203.0.113.9")
    answers = [api.call("POST", "/auth/login", {"phone": f.phone(), "code": "000000"})[1]["code"] for _ in range(21)]
    assert answers[:20] == ["login.code_wrong"] * 20 and answers[20] == "rate_limited"


def test_behind_our_proxy_the_client_cannot_name_its_own_address(ratelimits, settings):
    settings.PROXY_HOPS = 1  # one load balancer, which appends the address it was reached from
    api = f.Api()
    api.client = Client(REMOTE_ADDR="10.0.0.2")  # the load balancer
    answers = [
        api.call("POST", "/auth/sms-code", {"phone": f.phone()}, **{"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.5"})[0]
        for n in range(SMS_PER_ADDRESS + 1)
    ]
    assert answers == [200] * SMS_PER_ADDRESS + [429]  # what it put first changed nothing
    # Another client behind the same balancer is still served.
    other = api.call("POST", "/auth/sms-code", {"phone": f.phone()}, **{"X-Forwarded-For": "203.0.113.6"})
    assert other[0] == 200
