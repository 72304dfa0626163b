"""sushy-tools' Redfish emulator as the lab runs it: `python -m apps.lab.redfish_emulator` takes
`sushy-emulator`'s arguments and adds three things sushy-tools lacks (no Django needed here):

- **A serial number**: the system resource carries the machine's `SerialNumber` (from METALYARD_LAB_SYSTEM_SERIAL),
  which commissioning compares with the records; the fake driver has none.

- **Answer slowly**: every request waits the number of seconds written in the file named by
  METALYARD_LAB_DELAY_FILE (read on each request, as the emulator reads its password file), so a
  test can make a running BMC slow and fast again without restarting it.
- **Die with the lab**: the lab starts each emulator in its own session (a test's Ctrl-C must not
  reach it first), so a lab killed with SIGKILL would leave it running; it exits when its parent
  does. (PR_SET_PDEATHSIG would fire when the *thread* that started it ends, and the lab starts
  emulators from a thread pool.)"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DELAY_FILE_ENV = "METALYARD_LAB_DELAY_FILE"
PARENT_ENV = "METALYARD_LAB_PARENT_PID"  # the lab's pid: if it is gone before we look, we exit too
SERIAL_ENV = "METALYARD_LAB_SYSTEM_SERIAL"
SYSTEM_PATH = re.compile(r"^/redfish/v1/Systems/[^/]+/?$")
PARENT_POLL_SECONDS = 0.5
MAX_DELAY = 600.0


def read_delay(path: Path | None) -> float:
    if path is None:
        return 0.0
    try:
        return min(max(float(path.read_text().strip() or 0), 0.0), MAX_DELAY)
    except (OSError, ValueError):
        return 0.0


class SlowAnswers:
    """WSGI middleware: wait the configured delay, then answer as the emulator would."""

    def __init__(self, app: Callable[..., Iterable[bytes]], delay_file: Path | None) -> None:
        self.app, self.delay_file = app, delay_file

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        delay = read_delay(self.delay_file)
        if delay:
            time.sleep(delay)
        return self.app(environ, start_response)


def exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main() -> int:
    exit_with_parent(int(os.environ.get(PARENT_ENV) or os.getppid()))
    from sushy_tools.emulator import main as emulator

    delay_file = Path(os.environ[DELAY_FILE_ENV]) if os.environ.get(DELAY_FILE_ENV) else None
    run = emulator.app.run

    def run_slowly(*args: Any, **kwargs: Any) -> None:
        # Outermost, after main() has put the password check around the app: every answer is late.
        emulator.app.wsgi_app = SlowAnswers(emulator.app.wsgi_app, delay_file)
        run(*args, **kwargs)

    emulator.app.run = run_slowly  # type: ignore[method-assign]
    serial = os.environ.get(SERIAL_ENV, "")

    @emulator.app.after_request
    def with_serial(response: Any) -> Any:
        from flask import request

        if serial and request.method == "GET" and SYSTEM_PATH.match(request.path) and response.is_json:
            response.set_data(json.dumps({**response.get_json(), "SerialNumber": serial}))
        return response

    sys.argv[0] = "sushy-emulator"
    return emulator.main()


if __name__ == "__main__":
    sys.exit(main())
