"""The lab switch's routing side: a real BGP speaker (BIRD 2) configured from the lab switch's committed
Junos configuration, so that what Metalyard pushes is what decides which customer routes are accepted.

`bird_config_from_junos(lines)` translates the `protocols bgp` groups and the `policy-options` they use
(prefix lists matched `exact`, route filters, accept/reject terms) into a BIRD 2 configuration: one
`protocol bgp` per group and neighbour, its import filter built term by term from the Junos policy, the
group's `authentication-key` as the TCP MD5 password and its prefix limit. `customer_bird_config()` is what
a customer runs on their server (the docs show it), from the neighbour data the API gives.

`Bird` runs one BIRD process (in a network namespace the caller made) and reads its state with `birdc`.
Why BIRD 2: Debian's `bird2` is maintained upstream by CZ.NIC, starts in milliseconds, takes its whole
configuration from one file (re-read with `birdc configure`), keeps filtered routes for inspection
(`import keep filtered`) and does TCP MD5 on Linux; FRR needs its daemons and vtysh, GoBGP a gRPC client.
Pure Python plus the `bird`/`birdc` binaries; no Django.
"""
from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

COMMAND_TIMEOUT = 10.0


def _words(line: str) -> list[str]:
    return shlex.split(line)


@dataclass
class JunosBgpGroup:
    name: str
    peer_as: int = 0
    local_as: int = 0
    neighbors: list[str] = field(default_factory=list)
    import_policy: str = ""
    export_policy: str = ""
    md5: str = ""
    prefix_limit: int = 0
    family: int = 4


@dataclass
class JunosTerm:
    prefix_lists: list[str] = field(default_factory=list)  # prefix-list-filter NAME exact
    route_filters: list[str] = field(default_factory=list)  # route-filter PREFIX exact
    action: str = ""  # accept / reject / "" (fall through)


@dataclass
class JunosRouting:
    """What the routing side needs from a committed configuration."""

    groups: dict[str, JunosBgpGroup] = field(default_factory=dict)
    prefix_lists: dict[str, list[str]] = field(default_factory=dict)
    # policy → [(term name or "" for the final `then`, term)], in the order they were configured
    policies: dict[str, list[tuple[str, JunosTerm]]] = field(default_factory=dict)
    interface_addresses: dict[str, list[str]] = field(default_factory=dict)

    def local_address(self, neighbor: str) -> str | None:
        """The switch's own address on the link to `neighbor` (the interface address whose subnet holds it)."""
        peer = ipaddress.ip_address(neighbor)
        for addresses in self.interface_addresses.values():
            for text in addresses:
                iface = ipaddress.ip_interface(text)
                if iface.version == peer.version and peer in iface.network:
                    return str(iface.ip)
        return None


def parse_junos(lines: Sequence[str]) -> JunosRouting:
    routing = JunosRouting()
    for line in lines:
        w = _words(line)
        if len(w) < 3 or w[0] != "set":
            continue
        if w[1] == "interfaces" and "address" in w:
            routing.interface_addresses.setdefault(w[2], []).append(w[w.index("address") + 1])
        elif w[1:4] == ["protocols", "bgp", "group"] and len(w) >= 6:
            group = routing.groups.setdefault(w[4], JunosBgpGroup(name=w[4]))
            key, rest = w[5], w[6:]
            if key == "peer-as":
                group.peer_as = int(rest[0])
            elif key == "local-as":
                group.local_as = int(rest[0])
            elif key == "neighbor":
                group.neighbors.append(rest[0])
            elif key == "import":
                group.import_policy = rest[0]
            elif key == "export":
                group.export_policy = rest[0]
            elif key == "authentication-key":
                group.md5 = rest[0]
            elif key == "family":
                group.family = 6 if rest[0] == "inet6" else 4
                if "maximum" in rest:
                    group.prefix_limit = int(rest[rest.index("maximum") + 1])
        elif w[1:3] == ["policy-options", "prefix-list"] and len(w) >= 4:
            entries = routing.prefix_lists.setdefault(w[3], [])
            if len(w) >= 5:
                entries.append(w[4])
        elif w[1:3] == ["policy-options", "policy-statement"] and len(w) >= 5:
            _policy_line(routing.policies.setdefault(w[3], []), w[4:])
    return routing


def _policy_line(terms: list[tuple[str, JunosTerm]], w: list[str]) -> None:
    name, rest = ("", w) if w[0] != "term" else (w[1], w[2:])
    term = next((t for n, t in terms if n == name), None)
    if term is None:
        term = JunosTerm()
        terms.append((name, term))
    if rest[:1] == ["from"] and len(rest) >= 3:
        if rest[1] == "prefix-list-filter" and rest[3:4] == ["exact"]:
            term.prefix_lists.append(rest[2])
        elif rest[1] == "route-filter" and rest[3:4] == ["exact"]:
            term.route_filters.append(rest[2])
        else:
            raise ValueError(f"the lab's routing side does not model this match: {' '.join(w)}")
    elif rest[:1] == ["then"] and len(rest) >= 2:
        term.action = rest[1]
    # The final `then` stays last however the lines were ordered.
    terms.sort(key=lambda item: item[0] == "")


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _filter(routing: JunosRouting, policy: str, family: int) -> str:
    """A BIRD filter doing what the Junos policy does (no policy: Junos's default for EBGP import, accept)."""
    body: list[str] = []
    for _, term in routing.policies.get(policy, []):
        matches = []
        for prefix_list in term.prefix_lists:
            entries = routing.prefix_lists.get(prefix_list, [])
            # A BIRD prefix set entry without a range matches that prefix at exactly its length: Junos's `exact`.
            matches.append(f"net ~ [ {', '.join(entries)} ]" if entries else "false")
        matches += [f"net = {prefix}" for prefix in term.route_filters]
        action = {"accept": "accept", "reject": "reject"}.get(term.action)
        if action is None:
            continue
        condition = " || ".join(matches)
        body.append(f"  if {condition} then {action};" if condition else f"  {action};")
    if not body:
        body.append("  accept;")
    return "\n".join(body)


def bird_config_from_junos(lines: Sequence[str], *, router_id: str, timers: bool = True) -> str:
    """The BIRD 2 configuration of the lab switch's routing side for its committed `lines`."""
    routing = parse_junos(lines)
    out = [f"router id {router_id};", "protocol device {}"]
    defaults: set[int] = set()
    for group in routing.groups.values():
        ident = _ident(group.name)
        channel = "ipv6" if group.family == 6 else "ipv4"
        out.append(f"filter {ident}_import {{\n{_filter(routing, group.import_policy, group.family)}\n}}")
        out.append(f"filter {ident}_export {{\n{_filter(routing, group.export_policy, group.family)}\n}}")
        exported_default = any(f"{'::/0' if group.family == 6 else '0.0.0.0/0'}" in term.route_filters and term.action == "accept"
                               for _, term in routing.policies.get(group.export_policy, []))
        if exported_default:
            defaults.add(group.family)
        for index, neighbor in enumerate(group.neighbors):
            local = routing.local_address(neighbor)
            options = [f"  local {local} as {group.local_as};" if local else f"  local as {group.local_as};",
                       f"  neighbor {neighbor} as {group.peer_as};"]
            if group.md5:
                options.append(f'  password "{group.md5}";')
            if timers:
                options += ["  connect delay time 1;", "  connect retry time 2;", "  error wait time 1, 4;"]
            limit = f" import limit {group.prefix_limit} action disable;" if group.prefix_limit else ""
            options.append(f"  {channel} {{ import keep filtered on; import filter {ident}_import; export filter {ident}_export;{limit} }};")
            out.append(f"protocol bgp {ident}_{index} {{\n" + "\n".join(options) + "\n}")
    for family in sorted(defaults):
        route = "::/0" if family == 6 else "0.0.0.0/0"
        out.append(f"protocol static default{family} {{ ipv{family}; route {route} blackhole; }}")
    return "\n".join(out) + "\n"


def customer_bird_config(*, router_id: str, customer_ip: str, customer_as: int, peer_ip: str, peer_as: int, announce: Sequence[str],
                         md5: str = "", timers: bool = True) -> str:
    """BIRD 2 on the customer's server: announce `announce` to the switch (from the BGP neighbors API)."""
    family = ipaddress.ip_address(peer_ip).version
    channel = f"ipv{family}"
    routes = "\n".join(f"  route {prefix} blackhole;" for prefix in announce)
    options = [f"  local {customer_ip} as {customer_as};", f"  neighbor {peer_ip} as {peer_as};"]
    if md5:
        options.append(f'  password "{md5}";')
    if timers:
        options += ["  connect delay time 1;", "  connect retry time 2;", "  error wait time 1, 4;"]
    options.append(f'  {channel} {{ import all; export where proto = "announced"; }};')
    return (f"router id {router_id};\nprotocol device {{}}\nprotocol static announced {{\n  {channel};\n{routes}\n}}\n"
            f"protocol bgp switch {{\n" + "\n".join(options) + "\n}\n")


class BirdError(RuntimeError):
    pass


@dataclass
class Bird:
    """One BIRD process in a network namespace (`netns`, made by the caller), controlled through its socket."""

    netns: str
    workdir: Path
    name: str = "bird"
    process: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / f"{self.name}.conf"

    @property
    def socket_path(self) -> Path:
        return self.workdir / f"{self.name}.ctl"

    def write(self, config: str) -> None:
        self.config_path.write_text(config)

    def start(self, config: str) -> Bird:
        self.write(config)
        check = subprocess.run(["bird", "-p", "-c", str(self.config_path)], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
        if check.returncode != 0:
            raise BirdError(f"BIRD refused its configuration: {check.stderr.strip() or check.stdout.strip()}\n{config}")
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(["ip", "netns", "exec", self.netns, "bird", "-f", "-c", str(self.config_path), "-s", str(self.socket_path)],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._log = log
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while not self.socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BirdError(f"BIRD did not start: {(self.workdir / f'{self.name}.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return self

    def reconfigure(self, config: str) -> str:
        """Load a new configuration and run every session's import filter again over what it received, as a
        Junos commit does: here BIRD 2.0.12 kept a route accepted for 20 s and more after `configure` with a
        filter whose prefix set had shrunk, so the reload is asked for explicitly."""
        self.write(config)
        answer = self.birdc("configure")
        if "Reconfigured" not in answer and "Reconfiguration in progress" not in answer:
            raise BirdError(f"BIRD refused the new configuration: {answer.strip()}")
        return answer + self.birdc("reload", "in", "all")

    def birdc(self, *command: str) -> str:
        done = subprocess.run(["birdc", "-s", str(self.socket_path), *command], capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False)
        if done.returncode != 0:
            raise BirdError(f"birdc {' '.join(command)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout

    def bgp_state(self, protocol: str) -> str:
        """`Established`, `Active`, `Connect`… as BIRD reports the session."""
        match = re.search(r"BGP state:\s+(\S+)", self.birdc("show", "protocols", "all", protocol))
        return match.group(1) if match else ""

    def neighbor_states(self, lines: Sequence[str]) -> list[tuple[str, str, int]]:
        """(neighbor, BGP state, accepted prefixes) of every session of the committed `lines`, as this speaker (run from
        them) has it: what the lab switch answers to `get-bgp-neighbor-information`."""
        found = []
        for group in parse_junos(lines).groups.values():
            for index, neighbor in enumerate(group.neighbors):
                protocol = f"{_ident(group.name)}_{index}"
                try:
                    found.append((neighbor, self.bgp_state(protocol) or "Idle", len(self.routes(protocol))))
                except BirdError:
                    found.append((neighbor, "Idle", 0))
        return found

    def routes(self, protocol: str, *, filtered: bool = False) -> list[str]:
        """The prefixes received on `protocol`: accepted, or (`filtered`) rejected by its import filter."""
        args = ["show", "route", *(["filtered"] if filtered else []), "protocol", protocol]
        prefixes = []
        for line in self.birdc(*args).splitlines():
            first = line.split(" ", 1)[0]
            try:
                prefixes.append(str(ipaddress.ip_network(first)))
            except ValueError:
                continue
        return sorted(prefixes)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=COMMAND_TIMEOUT)
        if getattr(self, "_log", None) is not None:
            self._log.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m apps.lab.bgp customer …` prints a customer's BIRD 2 configuration; `… switch FILE` prints what
    the lab switch's routing side runs for a committed configuration (Junos set lines in FILE)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m apps.lab.bgp", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    customer = sub.add_parser("customer", help="BIRD 2 for the customer's server, from GET /devices/{id}/bgp/neighbors")
    customer.add_argument("--customer-ip", required=True)
    customer.add_argument("--customer-as", type=int, required=True)
    customer.add_argument("--peer-ip", required=True)
    customer.add_argument("--peer-as", type=int, required=True)
    customer.add_argument("--announce", action="append", default=[], help="a prefix to announce (repeat)")
    customer.add_argument("--md5", default="")
    switch = sub.add_parser("switch", help="BIRD 2 for the lab switch's routing side, from Junos set lines")
    switch.add_argument("file", help="a file of Junos `set` lines (the switch's committed configuration)")
    switch.add_argument("--router-id", default="192.0.2.1")
    args = parser.parse_args(argv)
    if args.command == "customer":
        print(customer_bird_config(router_id=args.customer_ip, customer_ip=args.customer_ip, customer_as=args.customer_as,
                                   peer_ip=args.peer_ip, peer_as=args.peer_as, announce=args.announce, md5=args.md5, timers=False), end="")
    else:
        print(bird_config_from_junos(Path(args.file).read_text().splitlines(), router_id=args.router_id, timers=False), end="")


if __name__ == "__main__":  # pragma: no cover
    main()
