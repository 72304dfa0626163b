"""Hard deadlines for BMC calls. pyghmi has no timeout argument (an unknown user name made its
client wait 100 s+ on these machines), so every call runs in a worker thread and the caller stops
waiting at the deadline; the abandoned thread ends whenever pyghmi's own retries give up."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from apps.hardware.drivers.errors import BmcError, BmcTimeout, BmcUnreachable

T = TypeVar("T")

# Threads still running after their caller gave up. A worker process that keeps meeting dead BMCs
# must not grow threads without limit: past this many it refuses new calls until some finish.
MAX_ABANDONED = 256
_abandoned = 0
_abandoned_lock = threading.Lock()


def abandoned_calls() -> int:
    return _abandoned


def run_with_deadline(fn: Callable[[], T], *, timeout: float, what: str) -> T:
    """Run fn() and return its result, or raise BmcTimeout after `timeout` seconds.

    Exceptions raised by fn propagate unchanged (the adapter translated them already)."""
    global _abandoned
    with _abandoned_lock:
        if _abandoned >= MAX_ABANDONED:
            raise BmcUnreachable(
                f"{what}: {_abandoned} earlier BMC calls in this worker are still hung",
                hint="the worker refuses new calls until they end; check the BMC network or restart the worker",
            )
    result: dict[str, object] = {}
    done = threading.Event()
    state = {"abandoned": False}
    lock = threading.Lock()

    def call() -> None:
        global _abandoned
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc
        finally:
            with lock:
                done.set()
                if state["abandoned"]:
                    with _abandoned_lock:
                        _abandoned -= 1

    worker = threading.Thread(target=call, name=f"bmc-call {what}", daemon=True)
    worker.start()
    if not done.wait(timeout):
        with lock:
            if not done.is_set():
                state["abandoned"] = True
                with _abandoned_lock:
                    _abandoned += 1
                raise BmcTimeout(
                    f"{what}: no answer within {timeout:g} s",
                    hint="the BMC is silent or overloaded; it is retried with backoff — check its network and power if it persists",
                )
    if "error" in result:
        error = result["error"]
        assert isinstance(error, BaseException)
        raise error
    return result["value"]  # type: ignore[return-value]


__all__ = ["BmcError", "abandoned_calls", "run_with_deadline"]
