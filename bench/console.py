"""Benchmark: many serial consoles at once through SOS — keystroke-to-echo latency.

In a throw-away test database: N active devices, each on a server whose BMC is a lab IPMI BMC (one lab process,
pyghmi's server side, serving each machine's emulated console over Serial-over-LAN). The SOS listener runs as its
own process (`manage.py sos`), as in production. N SSH clients (asyncssh, each with the owner's key, each on its
own device) connect at once and take the keyboard; each then types K single keystrokes, one at a time, and times
each until its echo comes back: SSH → SOS → pyghmi SOL client → lab BMC → console → and back.

Beside it, the lab's own share at the same load: after the SOS listener has stopped, this process opens the same N
consoles straight to the BMCs (pyghmi's SOL client, the same driver the listener runs; no SSH, no SOS) and types
the same keystrokes at the same pace. Prints p50/p99 of both, connect times, the CPU each process spent per
keystroke, and the load.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metalyard python bench/console.py [--sessions 100] [--keys 20] [--pace 0.2]
Target: p99 ≤ 100 ms beside the lab's own delay (what SSH and the SOS listener add to the direct consoles' p99)."""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("METALYARD_DEV_KEYS", "1")
os.environ.setdefault("LOG_LEVEL", "WARNING")
REPO = Path(__file__).resolve().parents[1]

import django  # noqa: E402

django.setup()

import asyncssh  # noqa: E402
from children import stop_process_group  # noqa: E402 - bench/children.py, beside this script
from django.test.utils import teardown_databases  # noqa: E402
from migrated import database_url, setup_bench_databases  # noqa: E402 - bench/migrated.py, beside this script

USER, PASSWORD = "admin", "bench-secret"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) a process has used so far: this one, or a child by pid (Linux /proc)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(sessions: int, lab: object, public_key: str) -> tuple[list[str], list[int]]:
    """N active devices on lab IPMI BMCs: (the device ids, the BMCs' ports)."""
    from apps.accounts import services as accounts
    from apps.accounts.models import Role
    from apps.facilities.services import facility_create, metro_create
    from apps.hardware.models import BMC, Plan, Server, ServerState
    from apps.installs.models import Device, DeviceState, OperatingSystem

    metro = metro_create(code="cb", name="Bench", country="US")
    facility = facility_create(code="cb1", metro=metro, name="Bench 1")
    plan = Plan.objects.create(slug="c3.small.x86", name="c3.small.x86", cpu_model="AMD EPYC 7402P", cpu_cores=24, ram_gb=64)
    os_ = OperatingSystem.objects.create(slug="benchos", name="Bench OS", distro="bench", version="1", image_url="/x.img",
                                         image_sha256="0" * 64, image_size=1)
    owner = accounts.user_create(username="bench", email="bench@example.com")
    organization = accounts.organization_create(name="Bench", slug="bench", owner=owner)
    project = accounts.project_create(organization=organization, name="consoles")
    accounts.membership_set(user=owner, organization=organization, role=Role.OWNER)
    accounts.ssh_key_create(label="bench", key=public_key, owner=owner)
    servers = Server.objects.bulk_create([Server(serial=f"CB{i:06d}", plan=plan, facility=facility, state=ServerState.ACTIVE)
                                          for i in range(sessions)])
    BMC.objects.bulk_create([
        BMC(server=server, protocol="ipmi", host="127.0.0.1", username=USER, password=PASSWORD, power_state="on",
            port=lab.add(name=server.serial, username=USER, password=PASSWORD, server_id=str(server.pk), power="on"))  # type: ignore[attr-defined]
        for server in servers])
    devices = Device.objects.bulk_create([
        Device(project=project, hostname=f"con{i}", plan=plan, facility=facility, metro=metro, operating_system=os_, server=server,
               ssh_keys=[public_key], state=DeviceState.ACTIVE) for i, server in enumerate(servers)])
    return [str(d.pk) for d in devices], [bmc.port for bmc in BMC.objects.filter(server__in=servers).order_by("server__serial")]


class Barrier:
    """Typing starts once every session holds its keyboard (or failed): echo times are not mixed with the work of
    the others still connecting (SSH handshakes, logins to the BMCs)."""

    def __init__(self, parties: int) -> None:
        self.parties, self.arrived, self.open = parties, 0, asyncio.Event()

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.open.set()


async def type_keys(keys: int, pace: float, write: Callable[[bytes], object], echo_of: Callable[[bytes], Awaitable[None]],
                    echoes: list[float]) -> None:
    """Type `keys` single keystrokes, timing each until its echo is back. Paced like a person typing: the next key
    `pace` seconds after the last one was sent (or when its echo is back, if later), sessions out of step with each
    other; pace 0 types each key the moment the echo is back."""
    next_key = time.perf_counter() + random.uniform(0, pace)
    for i in range(keys):
        char = bytes([ord("a") + i % 26])
        if pace:
            await asyncio.sleep(max(0.0, next_key - time.perf_counter()))
        sent = time.perf_counter()
        next_key = sent + pace
        write(char)
        await echo_of(char)
        echoes.append(time.perf_counter() - sent)


async def one_session(port: int, device_id: str, key: asyncssh.SSHKey, keys: int, start: asyncio.Event,
                      connects: list[float], echoes: list[float], failures: list[str], barrier: Barrier, pace: float = 0.0) -> None:
    await start.wait()
    t0 = time.perf_counter()
    arrived = False
    try:
        async with asyncssh.connect("127.0.0.1", port, username=device_id, client_keys=[key], known_hosts=None,
                                    encoding=None, connect_timeout=60) as conn:
            process = await conn.create_process(encoding=None)
            notice = b""
            while b"you are typing" not in notice:
                chunk = await asyncio.wait_for(process.stderr.read(4096), timeout=60)
                if not chunk:
                    raise RuntimeError(f"closed before the keyboard: {notice!r}")
                notice += chunk
            connects.append(time.perf_counter() - t0)
            arrived = True
            barrier.arrive()
            await barrier.open.wait()

            async def echo_of(char: bytes) -> None:
                seen = b""
                while char not in seen:
                    chunk = await asyncio.wait_for(process.stdout.read(4096), timeout=30)
                    if not chunk:
                        raise RuntimeError("console closed")
                    seen += chunk

            await type_keys(keys, pace, process.stdin.write, echo_of, echoes)
            process.stdin.write(b"\r~.")
            await asyncio.wait_for(process.wait(), timeout=30)
    except Exception as exc:
        failures.append(f"{device_id[:8]}: {type(exc).__name__}: {exc}")
    finally:
        if not arrived:
            barrier.arrive()


async def direct_consoles(ports: list[int], keys: int, pace: float, echoes: list[float], failures: list[str]) -> tuple[float, float]:
    """The same typing through SOL consoles this process opens straight to the BMCs (no SSH, no SOS): the lab's own
    delay, and pyghmi's client's, at the same load. Returns (seconds to open them all, seconds typing)."""
    from apps.hardware.drivers import BmcTarget
    from apps.hardware.drivers.sol import sol_open_async

    loop = asyncio.get_running_loop()

    async def one(port: int, opened: Barrier) -> None:
        screen = bytearray()
        changed = asyncio.Event()

        def output(data: bytes) -> None:
            def show() -> None:
                screen.extend(data)
                changed.set()
            loop.call_soon_threadsafe(show)

        arrived = False
        console = None
        try:
            console = await sol_open_async(BmcTarget(protocol="ipmi", host="127.0.0.1", port=port, username=USER, password=PASSWORD,
                                                     timeout=30), on_output=output, on_closed=lambda reason: None)
            arrived = True
            opened.arrive()
            await opened.open.wait()

            async def echo_of(char: bytes) -> None:
                while char not in screen:
                    changed.clear()
                    await asyncio.wait_for(changed.wait(), timeout=30)
                screen.clear()

            await type_keys(keys, pace, console.write, echo_of, echoes)
        except Exception as exc:
            failures.append(f"direct {port}: {type(exc).__name__}: {exc}")
        finally:
            if not arrived:
                opened.arrive()
            if console is not None:
                console.close()

    opened = Barrier(len(ports))
    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(one(port, opened)) for port in ports]
    await opened.open.wait()
    t1 = time.perf_counter()
    await asyncio.gather(*tasks)
    return t1 - t0, time.perf_counter() - t1


def wait_released(lab: object, ports: list[int], seconds: float = 30) -> None:
    """Until every BMC's console is free again (the SOS listener closed them as it stopped)."""
    deadline = time.monotonic() + seconds
    for port in ports:
        while lab.state(port)["sol_active"] and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)


def per_key(used: dict[str, float], keystrokes: int) -> str:
    return ", ".join(f"{name} {seconds:.1f} s ({seconds / keystrokes * 1000:.2f} ms a keystroke)"
                     for name, seconds in used.items()) if keystrokes else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--keys", type=int, default=20, help="keystrokes per session, one at a time")
    parser.add_argument("--pace", type=float, default=0.0,
                        help="seconds between a session's keystrokes, as a person types (0.2: 5 keys/s); default 0: the next key "
                             "as soon as the echo is back, every session flat out (a closed loop: its latency is the CPU queue)")
    args = parser.parse_args()

    old_config = setup_bench_databases()
    from apps.lab.bmc import IpmiLabProcess

    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-console-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    lab_log = open(workdir / "lab.log", "w")  # noqa: SIM115 - open for the lab process's lifetime
    lab = IpmiLabProcess(on_event=lambda event: None, log=lab_log)
    sos = None
    try:
        key = asyncssh.generate_private_key("ssh-ed25519")
        public = key.export_public_key("openssh").decode().strip()
        started = time.monotonic()
        devices, ports = seed(args.sessions, lab, public)
        print(f"setup: {args.sessions} devices on lab IPMI BMCs in {time.monotonic() - started:.1f} s")
        env = {**os.environ, "DATABASE_URL": database_url(), "METALYARD_SOS_HOST_KEY": str(workdir / "host_key"), "PYTHONUNBUFFERED": "1",
               "METALYARD_SOS_MAX_SESSIONS": str(max(500, args.sessions * 2))}
        sos = subprocess.Popen([sys.executable, "manage.py", "sos", "--bind", "127.0.0.1:0"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        line = sos.stdout.readline().decode() if sos.stdout else ""
        if "SOS listening on" not in line:
            raise SystemExit(f"the SOS listener did not start: {line!r}")
        port = int(line.strip().rsplit(":", 1)[1])

        connects: list[float] = []
        echoes: list[float] = []
        failures: list[str] = []

        processes = {"SSH clients (this process)": None, "SOS listener": sos.pid, "lab BMCs": lab.process.pid}
        cpu: dict[str, dict[str, float]] = {"connecting": {}, "typing": {}}

        async def run() -> tuple[float, float]:
            start = asyncio.Event()
            barrier = Barrier(len(devices))
            tasks = [asyncio.ensure_future(one_session(port, device, key, args.keys, start, connects, echoes, failures, barrier,
                                                      args.pace))
                     for device in devices]
            before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            t0 = time.perf_counter()
            start.set()
            await barrier.open.wait()
            t1 = time.perf_counter()
            middle = {name: cpu_seconds(pid) for name, pid in processes.items()}
            await asyncio.gather(*tasks)
            after = {name: cpu_seconds(pid) for name, pid in processes.items()}
            cpu["connecting"] = {name: middle[name] - before[name] for name in processes}
            cpu["typing"] = {name: after[name] - middle[name] for name in processes}
            return t1 - t0, time.perf_counter() - t1

        connecting, took = asyncio.run(run())
        stop_process_group(sos)
        sos = None
        wait_released(lab, ports)
        direct: list[float] = []
        direct_failures: list[str] = []
        direct_processes = {"SOL clients (this process)": None, "lab BMCs": lab.process.pid}
        before = {name: cpu_seconds(pid) for name, pid in direct_processes.items()}
        direct_opening, direct_took = asyncio.run(direct_consoles(ports, args.keys, args.pace, direct, direct_failures))
        direct_cpu = {name: cpu_seconds(pid) - before[name] for name, pid in direct_processes.items()}

        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        pacing = "flat out" if not args.pace else f"paced {args.pace:g} s apart, {1 / args.pace:g} keys/s a session"
        print(f"{len(connects)}/{args.sessions} SOS sessions held the keyboard at once ({len(failures)} failed) after {connecting:.1f} s; "
              f"then typed for {took:.1f} s ({len(echoes) / took if took else 0:,.0f} keystrokes/s in all, {pacing}); load average {load}")
        for failure in (failures + direct_failures)[:5]:
            print(f"  failed: {failure}")
        print("CPU used connecting: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu["connecting"].items()))
        print(f"CPU used typing through SOS: {per_key(cpu['typing'], len(echoes))}")
        print(f"then {args.sessions} SOL consoles straight to the same BMCs from this process, opened in {direct_opening:.1f} s, "
              f"typed for {direct_took:.1f} s ({len(direct) / direct_took if direct_took else 0:,.0f} keystrokes/s in all)")
        print(f"CPU used typing directly: {per_key(direct_cpu, len(direct))}")
        lab_log.flush()
        errors = [line for line in (workdir / "lab.log").read_text().splitlines() if "Error" in line or "Traceback" in line]
        print(f"lab process log: {workdir / 'lab.log'} ({len(errors)} error lines)")
        if connects:
            print(f"connect → keyboard:               p50 {percentile(connects, 50) * 1000:7.1f} ms   p99 {percentile(connects, 99) * 1000:7.1f} ms")
        if echoes:
            print(f"keystroke → echo via SOS:          p50 {percentile(echoes, 50) * 1000:7.1f} ms   p99 {percentile(echoes, 99) * 1000:7.1f} ms"
                  f"   ({len(echoes)} keystrokes)")
        if direct:
            print(f"keystroke → echo, direct SOL (lab): p50 {percentile(direct, 50) * 1000:7.1f} ms   p99 {percentile(direct, 99) * 1000:7.1f} ms"
                  f"   ({len(direct)} keystrokes, the same pace)")
        if echoes and direct:
            added = (percentile(echoes, 99) - percentile(direct, 99)) * 1000
            print(f"SSH and the SOS listener add: p50 {(percentile(echoes, 50) - percentile(direct, 50)) * 1000:.1f} ms, "
                  f"p99 {added:.1f} ms (target: p99 ≤ 100 ms beside the lab's own delay: {'met' if added <= 100 else 'NOT met'})")
        if failures or direct_failures:
            sys.exit(1)
    finally:
        if sos is not None:
            stop_process_group(sos)
        lab.stop()
        lab_log.close()
        teardown_databases(old_config, verbosity=0)


if __name__ == "__main__":
    main()
