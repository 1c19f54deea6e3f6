"""A web process sets what it loaded at start aside from the garbage collector."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_web_process_has_the_loaded_app_out_of_the_collectors_way() -> None:
    # What a granian worker does: import the WSGI module. Its views, schemas and models live as
    # long as the process; a full collection that walked them all stopped every thread ~0.1 s.
    probe = "import gc, guahao.wsgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", probe], env=dict(os.environ), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    frozen, walked = out.stdout.split()[-2:]
    assert int(frozen) > 100_000  # the app, its URLconf and what they import
    assert int(walked) < int(frozen) // 20  # what a full collection still walks
