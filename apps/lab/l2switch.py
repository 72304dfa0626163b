"""The lab switch's Layer 2 side: it forwards real Ethernet frames between the links standing for its
ports, by VLAN, as the lab switch's committed Junos configuration says.

`layer2_ports(lines)` reads each trunk (`unit 0 family ethernet-switching interface-mode trunk`, its `vlan
members` resolved through the `vlans` stanzas, `native-vlan-id`). `python -m apps.lab.l2switch STATE.json`
runs inside the switch's network namespace: a frame arriving on a trunk is taken only on a VLAN the trunk
carries (untagged: its native VLAN), its source MAC is learnt per VLAN, and it leaves on the trunk that
learnt its destination or is flooded to every other trunk of that VLAN — tagged, or untagged on a trunk
whose native VLAN it is. Ports that are not trunks (routed, disabled) carry nothing. The state file maps
port → link and trunk; it is re-read when it changes, as a commit changes the switch.

Why not a Linux bridge with VLAN filtering: the kernels of these machines are built without
CONFIG_BRIDGE_VLAN_FILTERING and CONFIG_VLAN_8021Q, so the lab forwards frames itself over AF_PACKET sockets
(the kernel hands a received frame's 802.1Q tag over as PACKET_AUXDATA). Pure Python, no Django.
"""
from __future__ import annotations

import json
import os
import select
import shlex
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
MAX_FRAME = 9216 + 64


@dataclass
class Trunk:
    vlans: set[int] = field(default_factory=set)
    native: int | None = None


def layer2_ports(lines: Sequence[str]) -> dict[str, Trunk]:
    """Each trunk port of a committed configuration (set lines) and the VLAN ids it carries."""
    vlan_ids: dict[str, int] = {}
    members: dict[str, list[str]] = {}
    natives: dict[str, int] = {}
    trunks: set[str] = set()
    bundles: dict[str, str] = {}  # member port → its LACP bundle (aeN), whose trunk the member carries
    for line in lines:
        w = shlex.split(line)
        if len(w) >= 5 and w[:2] == ["set", "vlans"] and w[3] == "vlan-id":
            vlan_ids[w[2]] = int(w[4])
        elif len(w) >= 4 and w[:2] == ["set", "interfaces"]:
            port, rest = w[2], w[3:]
            if rest[:2] == ["ether-options", "802.3ad"] and len(rest) > 2:
                bundles[port] = rest[2]
            elif rest[:1] == ["native-vlan-id"]:
                natives[port] = int(rest[1])
            elif rest[:4] == ["unit", "0", "family", "ethernet-switching"]:
                if rest[4:6] == ["interface-mode", "trunk"]:
                    trunks.add(port)
                elif rest[4:6] == ["vlan", "members"] and len(rest) > 6:
                    members.setdefault(port, []).append(rest[6])
    ports = {}
    for port in trunks:
        vlans = {vlan_ids[name] for name in members.get(port, []) if name in vlan_ids}
        native = natives.get(port)
        ports[port] = Trunk(vlans=vlans | ({native} if native else set()), native=native)
    # A bundle's members forward its VLANs (the lab does not speak LACP: the server's bond must not need a partner's LACPDUs).
    for member, bundle in bundles.items():
        if bundle in ports:
            ports[member] = ports[bundle]
    return ports


def write_state(path: Path, *, links: dict[str, str], lines: Sequence[str]) -> None:
    """The switch's state file from its committed `lines`; `links` maps port name → link in the namespace."""
    trunks = layer2_ports(lines)
    state = {link: ({"vlans": sorted(trunks[port].vlans), "native": trunks[port].native} if port in trunks else None)
             for port, link in links.items()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)  # the switch never reads half a file


def _tagged(frame: bytes, vid: int) -> bytes:
    return frame[:12] + struct.pack("!HH", 0x8100, vid & 0x0FFF) + frame[12:]


class Switch:
    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.mtime = 0.0
        self.trunks: dict[str, Trunk | None] = {}
        self.sockets: dict[str, socket.socket] = {}
        self.macs: dict[tuple[int, bytes], str] = {}

    def reload(self) -> None:
        mtime = self.state_path.stat().st_mtime
        if mtime == self.mtime:
            return
        self.mtime = mtime
        state = json.loads(self.state_path.read_text())
        self.trunks = {link: (Trunk(set(t["vlans"]), t["native"]) if t else None) for link, t in state.items()}
        self.macs.clear()  # a commit may move VLANs: forget what was learnt
        for link in self.trunks:
            if link not in self.sockets:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
                sock.bind((link, 0))
                self.sockets[link] = sock

    def receive(self, link: str) -> None:
        data, ancillary, _, address = self.sockets[link].recvmsg(MAX_FRAME, socket.CMSG_SPACE(AUXDATA.size))
        if address[2] == PACKET_OUTGOING or len(data) < 14:
            return
        vid = None
        for level, kind, payload in ancillary:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                status, *_, tci, _tpid = AUXDATA.unpack(payload[:AUXDATA.size])
                if status & TP_STATUS_VLAN_VALID:
                    vid = tci & 0x0FFF
        if vid is None and data[12:14] == b"\x81\x00":
            vid, data = struct.unpack("!H", data[14:16])[0] & 0x0FFF, data[:12] + data[16:]
        trunk = self.trunks.get(link)
        if trunk is None:
            return
        if vid is None:
            vid = trunk.native
        if vid is None or vid not in trunk.vlans:
            return  # a VLAN this port does not carry: dropped, as the switch does
        self.macs[(vid, data[6:12])] = link
        known = self.macs.get((vid, data[0:6]))
        targets = [known] if known and known != link else [
            other for other, t in self.trunks.items() if other != link and t is not None and vid in t.vlans]
        for target in targets:
            out = self.trunks[target]
            if out is None or vid not in out.vlans:
                continue
            self.sockets[target].send(data if out.native == vid else _tagged(data, vid))

    def run(self, *, poll: float = 0.1) -> None:
        self.reload()
        while True:
            readable, _, _ = select.select(list(self.sockets.values()), [], [], poll)
            for sock in readable:
                link = next(name for name, s in self.sockets.items() if s is sock)
                self.receive(link)
            self.reload()


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - run as a process by the tests and the lab
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        raise SystemExit("usage: python -m apps.lab.l2switch STATE.json  (inside the switch's network namespace)")
    Switch(Path(args[0])).run()


if __name__ == "__main__":  # pragma: no cover
    main()
