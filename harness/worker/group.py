"""Every process started by harness.device.proc leads its own process group: on a stop signal it
takes the whole group (MetaSchedule's pool workers, TVM's tracker and server children) with it."""

from __future__ import annotations

import os
import signal


def _kill_group(signum, frame):  # noqa: ARG001
    os.killpg(0, signal.SIGKILL)


def die_with_group() -> None:
    """On SIGTERM (sent too when the sweep that started this process dies) or SIGINT."""
    signal.signal(signal.SIGTERM, _kill_group)
    signal.signal(signal.SIGINT, _kill_group)
