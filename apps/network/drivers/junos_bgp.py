"""Customer BGP on Junos: one `protocols bgp` group per port and address family, with an import policy that
accepts exactly the prefixes the project holds (a prefix list matched `exact`) and rejects the rest, and an
export policy that sends nothing (or only a default route). Pure rendering; apps.network.drivers.junos
pushes it with the port's interface lines in the same commit.

Every name carries the port's name, so a port's statements are found, replaced and removed with the port.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from apps.network.drivers import BgpIntent

PREFIX = "metalyard-"
# A key in set lines, in the curly-brace text of a diff, quoted or not ($9$… as Junos shows it, or as loaded).
SECRET = re.compile(r'(authentication-key )("(?:[^"\\]|\\.)*"|[^\s;]+)')
MASK = '"<secret>"'


def port_slug(port: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", port)


def names(port: str) -> list[str]:
    """Every group, policy and prefix-list name a port's BGP may use (both families)."""
    slug = port_slug(port)
    return [f"{PREFIX}{slug}-v{family}{suffix}" for family in (4, 6) for suffix in ("", "-in", "-out")]


def delete_lines(port: str) -> list[str]:
    out = []
    for family in (4, 6):
        base = f"{PREFIX}{port_slug(port)}-v{family}"
        out += [f"delete protocols bgp group {base}", f"delete policy-options policy-statement {base}-in",
                f"delete policy-options policy-statement {base}-out", f"delete policy-options prefix-list {base}"]
    return out


def lines(port: str, bgp: BgpIntent | None, *, quote: Callable[[str], str]) -> list[str]:
    if bgp is None:
        return []
    out: list[str] = []
    for peer in sorted(bgp.peers, key=lambda p: p.family):
        base = f"{PREFIX}{port_slug(port)}-v{peer.family}"
        prefixes = [ipaddress.ip_network(p).with_prefixlen for p in peer.prefixes]
        policy = "set policy-options"
        if prefixes:
            out += [f"{policy} prefix-list {base} {prefix}" for prefix in prefixes]
            out += [f"{policy} policy-statement {base}-in term project from prefix-list-filter {base} exact",
                    f"{policy} policy-statement {base}-in term project then accept"]
        else:
            out.append(f"{policy} prefix-list {base}")
        out.append(f"{policy} policy-statement {base}-in then reject")
        if peer.default_route:
            default = "0.0.0.0/0" if peer.family == 4 else "::/0"
            out += [f"{policy} policy-statement {base}-out term default from route-filter {default} exact",
                    f"{policy} policy-statement {base}-out term default then accept"]
        out.append(f"{policy} policy-statement {base}-out then reject")
        group = f"set protocols bgp group {base}"
        out += [f"{group} type external", f"{group} import {base}-in", f"{group} export {base}-out",
                f"{group} peer-as {int(bgp.peer_as)}", f"{group} local-as {int(bgp.local_as)}"]
        family = "inet" if peer.family == 4 else "inet6"
        out.append(f"{group} family {family} unicast prefix-limit maximum {int(bgp.max_prefix)}")
        if bgp.md5:
            out.append(f"{group} authentication-key {quote(bgp.md5)}")
        out.append(f"{group} neighbor {ipaddress.ip_address(peer.neighbor)}")
    return out


def owner(line: str, by_name: dict[str, str]) -> str | None:
    """The port a BGP or policy line belongs to (by the names `names()` gives), or None."""
    words = line.split(" ", 5)
    if len(words) >= 5 and words[1] == "protocols" and words[2] == "bgp" and words[3] == "group":
        return by_name.get(words[4])
    if len(words) >= 4 and words[1] == "policy-options" and words[2] in ("prefix-list", "policy-statement"):
        return by_name.get(words[3])
    return None


def mask(lines_: list[str]) -> list[str]:
    return [SECRET.sub(rf"\g<1>{MASK}", line) for line in lines_]
