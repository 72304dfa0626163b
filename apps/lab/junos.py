"""The lab's emulated Junos switches: NETCONF over SSH (paramiko server, password auth, base:1.0
framing) on 127.0.0.1, answering the RPCs junos-eznc sends (see docs LAB.md "Switches").

One `JunosLab` holds many switches in one process, each on its own OS-chosen port. Each switch keeps
a shared candidate and a committed configuration (set lines, see `junos_config`), the exclusive lock,
a rollback history and the confirmed-commit timer, and has fault knobs for tests (refuse a commit,
drop the session mid-commit, answer slowly). No Django: this module runs in any process.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import logging
import selectors
import socket
import threading
import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from lxml import etree

from apps.lab.junos_config import ConfigSyntaxError, ConfigTree, duplicate_addresses
from apps.lab.netconf_replies import commit_error, filter_path, rpc_error

log = logging.getLogger(__name__)
SSHD_LOGGER = "apps.lab.junos.sshd"
logging.getLogger(SSHD_LOGGER).setLevel(logging.CRITICAL)

FRAME_END = b"]]>]]>"
BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
JUNOS_NS = "http://xml.juniper.net/junos/23.4R2/junos"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
HANDSHAKE_SECONDS = 10.0
HISTORY_DEPTH = 50
CAPABILITIES = (
    "urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.0", "urn:ietf:params:netconf:capability:validate:1.0",
    "urn:ietf:params:netconf:capability:url:1.0?scheme=http,ftp,file", "urn:ietf:params:xml:ns:netconf:base:1.0",
    "urn:ietf:params:xml:ns:netconf:capability:candidate:1.0", "urn:ietf:params:xml:ns:netconf:capability:confirmed-commit:1.0",
    "urn:ietf:params:xml:ns:netconf:capability:validate:1.0", "http://xml.juniper.net/netconf/junos/1.0",
    "http://xml.juniper.net/dmi/system/1.0",
)


@dataclass
class Faults:
    """What the switch does wrong, for fault tests. Change them at any time; they apply to the next RPC."""

    refuse_commit: bool = False  # `commit` (not `commit check`) answers with an error and changes nothing
    refuse_commit_check: bool = False  # `commit check` fails, as for a configuration Junos will not accept
    drop_mid_commit: bool = False  # a `commit confirmed` is applied, then the session is cut without an answer
    refuse_lock: bool = False  # as if an operator held `configure exclusive`
    reply_delay: float = 0.0  # seconds before every reply
    commit_delay: float = 0.0  # extra seconds before a commit's reply


@dataclass
class CommitRecord:
    at: dt.datetime
    user: str
    comment: str
    confirmed_minutes: int | None
    kind: str  # "commit", "confirm" or "rollback" (automatic, after an unconfirmed commit)


@dataclass
class LabSwitch:
    hostname: str
    username: str
    password: str
    model: str = "qfx5120-48y"
    version: str = "23.4R2-S2.1"
    host_key: paramiko.PKey | None = None
    port: int = 0
    faults: Faults = field(default_factory=Faults)
    committed: ConfigTree = field(default_factory=ConfigTree)
    candidate: ConfigTree | None = None  # None: the candidate equals the committed configuration
    lock_owner: int | None = None
    history: list[ConfigTree] = field(default_factory=list)  # rollback 1, 2 … (rollback 0 is `committed`)
    commits: list[CommitRecord] = field(default_factory=list)
    confirm_deadline: float | None = None
    state_file: Path | None = None
    _timer: threading.Timer | None = None
    mutex: threading.RLock = field(default_factory=threading.RLock)
    # The routing side (apps.lab.bgp): (neighbor, state, accepted prefixes) of each BGP session, or None for none.
    bgp_neighbors: Callable[[], list[tuple[str, str, int]]] | None = None

    @property
    def fingerprint(self) -> str:
        """OpenSSH's form: SHA256:<base64 without padding> of the host key."""
        assert self.host_key is not None
        digest = hashlib.sha256(self.host_key.asbytes()).digest()
        return "SHA256:" + b64encode(digest).decode().rstrip("=")

    @property
    def public_key(self) -> str:
        assert self.host_key is not None
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def running_lines(self) -> list[str]:
        with self.mutex:
            return self.committed.set_lines()

    def edit_by_hand(self, lines: str, *, user: str = "operator") -> None:
        """What an engineer on the console does: `configure`, the lines, `commit` (drift for Metalyard)."""
        with self.mutex:
            tree = self.committed.copy()
            tree.apply_lines(lines)
            self._commit(tree, user=user, comment="by hand", confirmed_minutes=None, kind="commit")

    # The methods below are called with `mutex` held.
    def _commit(self, tree: ConfigTree, *, user: str, comment: str, confirmed_minutes: int | None, kind: str) -> None:
        self.history.insert(0, self.committed)
        del self.history[HISTORY_DEPTH:]
        self.committed = tree
        self.candidate = None
        self.commits.append(CommitRecord(dt.datetime.now(dt.UTC), user, comment, confirmed_minutes, kind))
        self._save()

    def _save(self) -> None:
        if self.state_file is not None:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in self.committed.set_lines()))
            tmp.replace(self.state_file)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.confirm_deadline = None


class _SSHServer(paramiko.ServerInterface):
    def __init__(self, switch: LabSwitch) -> None:
        self.switch = switch
        self.netconf_requested = threading.Event()
        self.user = ""

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        if username == self.switch.username and password == self.switch.password:
            self.user = username
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        if name == "netconf":
            self.netconf_requested.set()
            return True
        return False


class _Dropped(Exception):
    """The fault knob cut the session."""


class JunosLab:
    """Many emulated switches in one process. `start()` binds nothing by itself: `add_switch()` does."""

    def __init__(self, *, minute_seconds: float = 60.0, state_dir: Path | None = None) -> None:
        # Junos counts `commit confirmed N` in minutes; tests shorten the lab's minute.
        self.minute_seconds = minute_seconds
        self.state_dir = Path(state_dir) if state_dir else None
        self.switches: dict[int, LabSwitch] = {}
        self._listeners: dict[int, socket.socket] = {}
        self._selector = selectors.DefaultSelector()
        self._stopping = threading.Event()
        self._accept_thread: threading.Thread | None = None
        self._sessions: set[paramiko.Transport] = set()
        self._session_threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._next_session_id = 40000
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._selector.register(self._wakeup_r, selectors.EVENT_READ, None)

    # ------------------------------------------------------------------ lifecycle
    def add_switch(self, *, hostname: str, username: str, password: str, port: int = 0, model: str = "qfx5120-48y",
                   initial_lines: str = "") -> LabSwitch:
        switch = LabSwitch(hostname=hostname, username=username, password=password, model=model)
        switch.host_key = self._host_key(hostname)
        if self.state_dir is not None:
            switch.state_file = self.state_dir / f"{hostname}.conf"
            if switch.state_file.exists():
                switch.committed.apply_lines(switch.state_file.read_text())
        if not switch.committed.root:
            switch.committed.apply_lines(f"set system host-name {hostname}\nset system services netconf ssh\n"
                                         "set interfaces em0 description management\n" + initial_lines)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        listener.setblocking(False)
        switch.port = listener.getsockname()[1]
        with self._lock:
            self.switches[switch.port] = switch
            self._listeners[switch.port] = listener
        self._selector.register(listener, selectors.EVENT_READ, switch)
        self._wakeup_w.send(b"x")
        return switch

    def switch(self, hostname: str) -> LabSwitch:
        for switch in self.switches.values():
            if switch.hostname == hostname:
                return switch
        raise KeyError(hostname)

    def start(self) -> JunosLab:
        self._accept_thread = threading.Thread(target=self._accept_loop, name="junos-lab-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopping.is_set():
            return  # already stopped (stop is safe to call twice)
        self._stopping.set()
        self._wakeup_w.send(b"x")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout)
        with self._lock:
            listeners = list(self._listeners.values())
            sessions = list(self._sessions)
            threads = list(self._session_threads)
        for listener in listeners:
            with contextlib.suppress(Exception):
                self._selector.unregister(listener)
            listener.close()
        for transport in sessions:
            transport.close()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for switch in self.switches.values():
            with switch.mutex:
                switch._cancel_timer()
        self._selector.close()
        self._wakeup_r.close()
        self._wakeup_w.close()

    def __enter__(self) -> JunosLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _host_key(self, hostname: str) -> paramiko.PKey:
        # Ed25519 through `cryptography` (paramiko cannot generate one); kept in state_dir so that a
        # restarted lab keeps the fingerprint Metalyard pinned.
        path = self.state_dir / f"{hostname}.key" if self.state_dir else None
        if path is not None and path.exists():
            return paramiko.Ed25519Key(filename=str(path))
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pem)
            path.chmod(0o600)
        return paramiko.Ed25519Key(file_obj=io.StringIO(pem.decode()))

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            for key, _ in self._selector.select(timeout=0.5):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wakeup_r.recv(4096)
                    continue
                try:
                    sock, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                sock.setblocking(True)
                thread = threading.Thread(target=self._serve, args=(key.data, sock), name=f"junos-{key.data.hostname}", daemon=True)
                with self._lock:
                    self._session_threads.add(thread)
                thread.start()

    # ------------------------------------------------------------------ one SSH connection
    def _serve(self, switch: LabSwitch, sock: socket.socket) -> None:
        transport = paramiko.Transport(sock)
        # A client that hangs up after the key exchange (a host-key check) is routine here, not an error.
        transport.set_log_channel(SSHD_LOGGER)
        transport.add_server_key(switch.host_key)
        server = _SSHServer(switch)
        with self._lock:
            self._sessions.add(transport)
            self._next_session_id += 1
            session_id = self._next_session_id
        try:
            transport.start_server(server=server)
            channel = None
            deadline = time.monotonic() + HANDSHAKE_SECONDS
            # Short waits, so that a client that gives up (bad password, host-key probe) or a lab
            # that stops does not keep this thread for the whole handshake time.
            while channel is None and transport.is_active() and not self._stopping.is_set() and time.monotonic() < deadline:
                channel = transport.accept(0.1)
            while channel is not None and not server.netconf_requested.is_set() and transport.is_active() and time.monotonic() < deadline:
                server.netconf_requested.wait(0.1)
            if channel is None or not server.netconf_requested.is_set():
                return
            _NetconfSession(self, switch, channel, session_id, server.user).run()
        except Exception:  # a client that goes away mid-handshake is routine for a switch
            log.debug("lab switch %s: session %s ended", switch.hostname, session_id, exc_info=True)
        finally:
            with switch.mutex:
                if switch.lock_owner == session_id:
                    # Junos: ending the session releases the exclusive lock and discards uncommitted changes.
                    switch.lock_owner = None
                    switch.candidate = None
            transport.close()
            with self._lock:
                self._sessions.discard(transport)
                self._session_threads.discard(threading.current_thread())

    def _start_confirm_timer(self, switch: LabSwitch, minutes: int) -> None:
        switch._cancel_timer()
        seconds = minutes * self.minute_seconds
        switch.confirm_deadline = time.monotonic() + seconds
        timer = threading.Timer(seconds, self._confirm_expired, args=(switch,))
        timer.daemon = True
        switch._timer = timer
        timer.start()

    def _confirm_expired(self, switch: LabSwitch) -> None:
        with switch.mutex:
            if switch.confirm_deadline is None or not switch.history:
                return
            switch._timer = None
            switch.confirm_deadline = None
            # Junos: "commit confirmed will be rolled back": rollback 1 and commit.
            previous = switch.history[0].copy()
            switch._commit(previous, user="root", comment="automatic rollback: commit not confirmed", confirmed_minutes=None, kind="rollback")


class _NetconfSession:
    def __init__(self, lab: JunosLab, switch: LabSwitch, channel: paramiko.Channel, session_id: int, user: str) -> None:
        self.lab, self.switch, self.channel, self.session_id, self.user = lab, switch, channel, session_id, user
        self.buffer = b""

    # ------------------------------------------------------------------ framing
    def send(self, text: str) -> None:
        self.channel.sendall(text.encode() + b"\n" + FRAME_END + b"\n")

    def receive(self) -> bytes | None:
        while FRAME_END not in self.buffer:
            chunk = self.channel.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
            if len(self.buffer) > MAX_MESSAGE_BYTES:
                return None
        message, _, self.buffer = self.buffer.partition(FRAME_END)
        return message.strip()

    def run(self) -> None:
        caps = "".join(f"<capability>{c}</capability>" for c in CAPABILITIES)
        self.send(f'<!-- No zombies were killed during the creation of this user interface -->\n'
                  f'<!-- user {escape(self.user)}, class super-user -->\n'
                  f'<hello xmlns="{BASE_NS}"><capabilities>{caps}</capabilities>'
                  f"<session-id>{self.session_id}</session-id></hello>")
        hello = self.receive()
        if hello is None or b"hello" not in hello:
            return
        while not self.lab._stopping.is_set():
            message = self.receive()
            if message is None:
                return
            try:
                rpc = etree.fromstring(message)
            except etree.XMLSyntaxError:
                self.send(self._reply("", rpc_error("xml syntax error in the request", tag="malformed-message", type_="rpc")))
                continue
            message_id = rpc.get("message-id", "")
            children = [c for c in rpc if isinstance(c.tag, str)]
            if etree.QName(rpc).localname != "rpc" or not children:
                self.send(self._reply(message_id, rpc_error("syntax error, expecting <rpc>", tag="operation-failed", type_="protocol")))
                continue
            command = children[0]
            name = etree.QName(command).localname
            try:
                body = self.dispatch(name, command)
            except _Dropped:
                self.channel.close()
                return
            if self.switch.faults.reply_delay:
                time.sleep(self.switch.faults.reply_delay)
            self.send(self._reply(message_id, body))
            if name == "close-session":
                return

    def _reply(self, message_id: str, body: str) -> str:
        return (f'<rpc-reply xmlns="{BASE_NS}" xmlns:junos="{JUNOS_NS}" message-id="{escape(message_id, {chr(34): "&quot;"})}">\n'
                f"{body}\n</rpc-reply>")

    # ------------------------------------------------------------------ RPCs
    def dispatch(self, name: str, command: etree._Element) -> str:
        handler = getattr(self, "rpc_" + name.replace("-", "_"), None)
        if handler is None:
            return rpc_error(f"syntax error: <{name}> is not supported by the Metalyard lab switch", tag="operation-failed", type_="protocol")
        with self.switch.mutex:
            return handler(command)

    def _locked_by_other(self) -> str | None:
        owner = self.switch.lock_owner
        if owner is not None and owner != self.session_id:
            since = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
            return rpc_error(f"configuration database locked by:\n  metalyard (pid {owner}) on since {since}\n  exclusive [edit]",
                          tag="lock-denied", type_="protocol", info=f"<session-id>{owner}</session-id>")
        return None

    def rpc_close_session(self, command: etree._Element) -> str:
        return "<ok/>"

    def rpc_lock_configuration(self, command: etree._Element) -> str:
        switch = self.switch
        if switch.faults.refuse_lock:
            return rpc_error("configuration database locked by:\n  operator terminal pts/0 (pid 4242) on since 2026-11-24 08:00:00 UTC\n  exclusive [edit]",
                          tag="lock-denied", type_="protocol", info="<session-id>4242</session-id>")
        other = self._locked_by_other()
        if other:
            return other
        if switch.candidate is not None and switch.lock_owner is None:
            return rpc_error("configuration database modified", tag="lock-denied", type_="protocol")
        switch.lock_owner = self.session_id
        return "<ok/>"

    def rpc_unlock_configuration(self, command: etree._Element) -> str:
        switch = self.switch
        if switch.lock_owner != self.session_id:
            return rpc_error("configuration database is not locked by this session", tag="operation-failed", type_="protocol")
        switch.lock_owner = None
        # Junos discards what the exclusive session left uncommitted.
        switch.candidate = None
        return "<ok/>"

    def rpc_load_configuration(self, command: etree._Element) -> str:
        switch = self.switch
        other = self._locked_by_other()
        if other:
            return other
        if command.get("compare") == "rollback" or command.get("rollback") is not None:
            index = int(command.get("rollback", "0"))
            if index == 0:
                switch.candidate = None
            elif index <= len(switch.history):
                switch.candidate = switch.history[index - 1].copy()
            else:
                return rpc_error(f"rollback {index} does not exist", tag="operation-failed", type_="application")
            return "<load-configuration-results><ok/></load-configuration-results>"
        if command.get("action") != "set":
            return rpc_error("the Metalyard lab switch loads action=\"set\" (set and delete lines) only", tag="operation-failed", type_="application")
        text_element = next((c for c in command if isinstance(c.tag, str) and etree.QName(c).localname == "configuration-set"), None)
        text = text_element.text or "" if text_element is not None else ""
        work = (switch.candidate or switch.committed).copy()
        try:
            warnings = work.apply_lines(text)
        except ConfigSyntaxError as exc:
            bad = f"<error-info><bad-element>{escape(exc.line)}</bad-element></error-info>"
            error = rpc_error(str(exc), tag="invalid-value", type_="application", path=exc.path, extra=bad)
            return f"<load-configuration-results>{error}</load-configuration-results>"
        switch.candidate = None if work == switch.committed else work
        notes = "".join(rpc_error(w.args[0], tag="warning", type_="application", severity="warning", path=w.path,
                               extra=f"<error-info><bad-element>{escape(w.line)}</bad-element></error-info>") for w in warnings)
        return f"<load-configuration-results>{notes}<ok/></load-configuration-results>"

    def rpc_commit_configuration(self, command: etree._Element) -> str:
        switch, faults = self.switch, self.switch.faults
        parts = {etree.QName(c).localname: (c.text or "") for c in command if isinstance(c.tag, str)}
        other = self._locked_by_other()
        if other:
            return other
        candidate = switch.candidate or switch.committed
        problems = [f"address {a} is configured on both {i1} and {i2}" for a, i1, i2 in duplicate_addresses(candidate)]
        if "check" in parts:
            if faults.refuse_commit_check:
                problems.append("configuration check-out failed (lab fault: refuse_commit_check)")
            if problems:
                return commit_error(problems)
            return "<commit-results><routing-engine junos:style=\"normal\"><name>re0</name><commit-check-success/></routing-engine></commit-results><ok/>"
        if faults.commit_delay:
            time.sleep(faults.commit_delay)
        if faults.refuse_commit:
            problems.append("commit failed: (lab fault: refuse_commit) statements constraint check failed")
        if problems:
            return commit_error(problems)
        comment = parts.get("log", "")
        if "confirmed" in parts:
            minutes = int(parts.get("confirm-timeout") or 10)
            switch._commit(candidate.copy(), user=self.user, comment=comment, confirmed_minutes=minutes, kind="commit")
            self.lab._start_confirm_timer(switch, minutes)
            if faults.drop_mid_commit:
                raise _Dropped()
            return "<ok/>"
        kind = "confirm" if switch.confirm_deadline is not None and switch.candidate is None else "commit"
        switch._cancel_timer()
        switch._commit(candidate.copy(), user=self.user, comment=comment, confirmed_minutes=None, kind=kind)
        return "<ok/>"

    def rpc_get_configuration(self, command: etree._Element) -> str:
        switch = self.switch
        fmt = command.get("format", "xml")
        if command.get("compare") == "rollback":
            index = int(command.get("rollback", "0"))
            if index > len(switch.history):
                return rpc_error(f"rollback {index} does not exist", tag="operation-failed", type_="application")
            base = switch.committed if index == 0 else switch.history[index - 1]
            diff = (switch.candidate or switch.committed).compare(base)
            return f"<configuration-information><configuration-output>{escape(diff)}</configuration-output></configuration-information>"
        database = command.get("database", "candidate")
        tree = switch.committed if database == "committed" else (switch.candidate or switch.committed)
        filters = [c for c in command if isinstance(c.tag, str) and etree.QName(c).localname == "configuration"]
        if filters and len(filters[0]):
            paths = [filter_path(top) for top in filters[0] if isinstance(top.tag, str)]
            tree = ConfigTree().merged(tree.subtree(p) for p in paths)
        stamp = f"## Last commit: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC by {self.user}"
        if fmt == "set":
            lines = "\n".join(tree.set_lines())
            return f"<configuration-set>\n{escape(lines)}\n</configuration-set>"
        if fmt == "text":
            return f"<configuration-text>\n{escape(stamp)}\n{escape(tree.text())}</configuration-text>"
        return rpc_error("the Metalyard lab switch returns configuration in format=\"set\" or format=\"text\"", tag="operation-not-supported",
                         type_="application")

    def rpc_get_software_information(self, command: etree._Element) -> str:
        s = self.switch
        return (f"<software-information><host-name>{escape(s.hostname)}</host-name><product-model>{s.model}</product-model>"
                f"<product-name>{s.model}</product-name><junos-version>{s.version}</junos-version></software-information>")

    def rpc_get_bgp_neighbor_information(self, command: etree._Element) -> str:
        """`show bgp neighbor` as Junos answers it over NETCONF: a <bgp-peer> per session, with its state."""
        peers = self.switch.bgp_neighbors() if self.switch.bgp_neighbors is not None else []
        body = "".join(f"<bgp-peer><peer-address>{escape(address)}+179</peer-address><peer-state>{escape(state)}</peer-state>"
                       f"<bgp-rib><accepted-prefix-count>{int(accepted)}</accepted-prefix-count></bgp-rib></bgp-peer>"
                       for address, state, accepted in peers)
        return f"<bgp-information>{body}</bgp-information>"

    def rpc_command(self, command: etree._Element) -> str:
        if (command.text or "").strip().startswith("show version"):
            return self.rpc_get_software_information(command)
        return rpc_error(f"syntax error: '{escape((command.text or '').strip())}' is not supported by the lab switch", tag="operation-failed", type_="protocol")


def run_forever(lab: JunosLab, stop: threading.Event) -> None:  # pragma: no cover - used by `python -m`
    with lab:
        stop.wait()


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a developer's tool
    """`python -m apps.lab.junos --count 3`: switches lab-sw1 … on loopback, printed as host:port."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--username", default="metalyard")
    parser.add_argument("--password", default="lab-switch")
    parser.add_argument("--minute-seconds", type=float, default=60.0)
    args: Any = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lab = JunosLab(minute_seconds=args.minute_seconds)
    for i in range(args.count):
        s = lab.add_switch(hostname=f"lab-sw{i + 1}", username=args.username, password=args.password)
        print(f"{s.hostname} 127.0.0.1:{s.port} {s.fingerprint}", flush=True)
    run_forever(lab, stop)


if __name__ == "__main__":  # pragma: no cover
    main()
