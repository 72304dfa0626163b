"""`manage.py devserver`: what `make run` starts — the public web server, the provisioning listener
(the endpoints machines call, METALYARD_PROVISIONING_BIND), a django-q2 worker, the console server (serial
consoles over SSH, METALYARD_SOS_BIND, and the device page's console websockets on --console-addr) and the lab —
as child processes; Ctrl-C (or SIGTERM) stops them all and waits for each to exit."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

# A worker finishes the task in hand (a switch commit, a BMC call) before it stops; the lab
# may be half-way through starting dozens of emulators on a busy machine.
STOP_GRACE_SECONDS = 60


class Command(BaseCommand):
    help = ("Run the web server (127.0.0.1:8000), the provisioning listener (127.0.0.1:8001), a task worker and the "
            "lab hardware until Ctrl-C.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="the public site (portal, API, admin)")
        parser.add_argument("--provisioning-addr", default=settings.PROVISIONING_BIND,
                            help="the provisioning listener (machine endpoints only)")
        parser.add_argument("--sos-addr", default=settings.SOS_BIND, help="the SOS listener (ssh <device id>@this)")
        parser.add_argument("--console-addr", default=settings.CONSOLE_WEB_BIND or "127.0.0.1:8002",
                            help="the browser console's websockets (the device page connects there)")
        parser.add_argument("--no-lab", action="store_true", help="Do not start the emulated hardware.")

    def handle(self, *args: Any, **options: Any) -> None:
        manage = [sys.executable, "manage.py"]
        commands = {
            "web": manage + ["runserver", options["addr"], "--noreload"],
            "machines": manage + ["provisioning_server", "--addr", options["provisioning_addr"]],
            "worker": manage + ["qcluster"],
            "sos": manage + ["sos", "--bind", options["sos_addr"], "--web-bind", options["console_addr"]],
        }
        if not options["no_lab"]:
            commands["lab"] = manage + ["lab"]
        children: dict[str, subprocess.Popen] = {}
        stopping = False
        env = os.environ.copy()
        # The lab's machines call the provisioning listener, wherever it was put.
        env.setdefault("METALYARD_LAB_PLATFORM_URL", f"http://{options['provisioning_addr']}")
        # runserver has no websockets: the device page's console connects to the console server directly (in
        # production the proxy serves both on one host).
        env.setdefault("METALYARD_CONSOLE_WS_URL", f"ws://{options['console_addr']}")

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, argv in commands.items():
            # Own process groups: the terminal's Ctrl-C reaches us, and we stop the children in order.
            children[name] = subprocess.Popen(argv, start_new_session=True, env=env)
            self.stdout.write(f"started {name} (pid {children[name].pid}): {' '.join(argv[1:])}")
        self.stdout.write(self.style.SUCCESS(f"Metalyard is up: http://{options['addr']}/admin/ (machines: "
                                           f"http://{options['provisioning_addr']}/)  (Ctrl-C stops everything)"))
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping the rest.")
                    stopping, exit_code = True, 1
                    break
            time.sleep(0.2)
        self.stdout.write("stopping …")
        # Web and worker first, the lab last: a worker finishing a switch commit or a BMC call
        # needs its device to still be there.
        for group in (["web", "machines", "worker", "sos"], ["lab"]):
            self._stop([(name, children[name]) for name in group if name in children])
        self.stdout.write("stopped.")
        sys.exit(exit_code)

    def _stop(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        for _, child in children:
            if child.poll() is None:
                # The leader only: django-q's cluster stops its own workers in order, and loses
                # them (then hangs) when every process of the group gets the signal at once.
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_GRACE_SECONDS} s; killing it.")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
