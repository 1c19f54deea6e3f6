"""A command finds the HIS and payment sandbox of the demo that runs on its data directory, and
none otherwise: never a fixed port where another instance may be listening."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guahao.his.models import HisConnection
from tests import factories as f

READ = "import django; django.setup(); from django.conf import settings; print(settings.HIS_URL, settings.PAYSIM_URL)"


def _settings_in(data_dir) -> str:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if k not in ("GUAHAO_HIS_URL", "GUAHAO_PAYSIM_URL")}
    env.update(GUAHAO_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="guahao.settings")
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", READ], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_command_reads_the_simulators_its_demo_wrote_and_none_without_one(tmp_path):
    assert _settings_in(tmp_path) == ""  # no demo here: no address at all
    urls = {"GUAHAO_HIS_URL": "http://127.0.0.1:47021", "GUAHAO_PAYSIM_URL": "http://127.0.0.1:47020"}
    (tmp_path / "simulators.json").write_text(json.dumps(urls))
    assert _settings_in(tmp_path) == "http://127.0.0.1:47021 http://127.0.0.1:47020"


@pytest.mark.django_db
def test_his_check_without_an_address_says_which_setting_is_missing(settings, capsys):
    settings.HIS_URL = ""
    HisConnection.objects.create(hospital=f.hospital(), mode="synced", hospital_code="h")
    with pytest.raises(CommandError) as refused:
        call_command("his", "check")
    assert refused.value.returncode == 2
    assert "GUAHAO_HIS_URL" in capsys.readouterr().out
