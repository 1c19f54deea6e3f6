"""The code reads the time only through ``core.clock``, so the hospital's "today" never comes from
the machine's clock or time zone, and tests can move it. The simulators (other systems, in their
own processes) and signatures checked against another system's clock are the exceptions."""

from __future__ import annotations

import re
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "guahao"
MACHINE_CLOCK = re.compile(
    r"\b(?:timezone\.now|timezone\.localdate|timezone\.localtime|datetime\.now|datetime\.utcnow|date\.today"
    r"|datetime\.today|time\.time|time\.localtime|time\.gmtime)\("
)
# Where the machine's clock is the right one, and why.
ALLOWED = {
    "core/clock.py": "the one place",
    "core/idempotency.py": "a claim's lock file is aged by the machine's file times (a moved clock would free a held one)",
    "core/signing.py": "a signature's timestamp is compared with the other system's clock",
    "payments/providers/wechatpay.py": "WeChat Pay's timestamp header is checked against the real clock",
    "his/simulator/server.py": "the HIS simulator is another system in its own process",
    "payments/sandbox/server.py": "the payment sandbox is another system in its own process",
}


def test_no_module_reads_the_machine_clock_but_core_clock():
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        name = path.relative_to(SOURCE).as_posix()
        if name in ALLOWED or "/migrations/" in name:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if MACHINE_CLOCK.search(line.split("#")[0]):
                found.append(f"guahao/{name}:{number}: {line.strip()}")
    assert found == [], "read the time through guahao.core.clock:\n" + "\n".join(found)


def test_the_exceptions_still_exist():
    """An allowed file that no longer reads the clock should leave the list."""
    for name in ALLOWED:
        text = (SOURCE / name).read_text(encoding="utf-8")
        assert MACHINE_CLOCK.search(text), name
