"""The lab switch's configuration database: Junos `set`/`delete` lines applied to a statement tree,
shown the way Junos shows it (`display set`, the curly-brace text, and `show | compare`).

It knows just enough of the Junos schema to be faithful for interface configuration: which keywords
take a value (`unit 0`, `address 10.0.0.0/31`) and which of those hold one value that a new `set`
replaces (`description`, `mtu`). Pure Python, no Django: the emulator runs in any process.
"""
from __future__ import annotations

import copy
import ipaddress
import re
import shlex
from collections.abc import Iterable

# Keywords followed by a value that names the statement; a single-valued one is replaced by a new set.
SINGLE_VALUED = frozenset({"description", "mtu", "802.3ad", "host-name", "speed", "encapsulation", "vlan-id", "native-vlan-id", "link-mode",
                           # protocols bgp and policy-options (customer BGP)
                           "peer-as", "local-as", "type", "import", "export", "authentication-key", "maximum", "interface-mode"})
MULTI_VALUED = frozenset({"unit", "family", "address", "members", "vlan", "group", "neighbor",
                          "prefix-list", "policy-statement", "term", "prefix-list-filter", "route-filter", "vlans"})
VALUE_KEYWORDS = SINGLE_VALUED | MULTI_VALUED
MTU_RANGE = (256, 9216)


class ConfigSyntaxError(ValueError):
    """A line the Junos CLI would reject; `path` is the [edit …] hierarchy it concerns."""

    def __init__(self, message: str, *, path: str = "", line: str = "") -> None:
        self.path, self.line = path, line
        super().__init__(message)


class StatementNotFound(ConfigSyntaxError):
    """`delete` of something that is not configured: Junos answers with a warning, not an error."""


Tree = dict[str, "Tree"]


def _quote(value: str) -> str:
    if value and re.fullmatch(r"[A-Za-z0-9_.:/@+,=\-]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tokenize(line: str) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise ConfigSyntaxError(f"syntax error: {exc}", line=line) from exc


def statements(tokens: list[str], *, allow_bare_keyword: bool = False) -> list[str]:
    """Group tokens into statements: `unit 0`, `family inet`, `description "a b"`, `disable`."""
    result: list[str] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if word in VALUE_KEYWORDS:
            if i + 1 >= len(tokens):
                if allow_bare_keyword:
                    result.append(word)
                    break
                raise ConfigSyntaxError(f"syntax error, expecting <{word}> value", line=" ".join(tokens))
            result.append(f"{word} {_quote(tokens[i + 1])}")
            i += 2
        else:
            result.append(_quote(word))
            i += 1
    return result


def _keyword(statement: str) -> str:
    return statement.split(" ", 1)[0]


def _validate(stmt: str, line: str, path: list[str]) -> None:
    keyword, _, value = stmt.partition(" ")
    value = value.strip('"')
    where = "[edit " + " ".join(path) + "]"
    if keyword == "mtu" and (not value.isdigit() or not MTU_RANGE[0] <= int(value) <= MTU_RANGE[1]):
        raise ConfigSyntaxError(f"Value {value} is not within range ({MTU_RANGE[0]}..{MTU_RANGE[1]})", path=where, line=line)
    if keyword == "address":
        try:
            ipaddress.ip_interface(value)
        except ValueError as exc:
            raise ConfigSyntaxError(f"invalid ip address or hostname: {value}", path=where, line=line) from exc
        if "/" not in value:
            raise ConfigSyntaxError(f"address {value} needs a prefix length", path=where, line=line)


class ConfigTree:
    """An ordered tree of statements; the root's children are the top-level hierarchies."""

    def __init__(self, root: Tree | None = None) -> None:
        self.root: Tree = root if root is not None else {}

    def copy(self) -> ConfigTree:
        return ConfigTree(copy.deepcopy(self.root))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigTree) and self.set_lines() == other.set_lines()

    # ------------------------------------------------------------------ editing
    def apply_lines(self, text: str) -> list[StatementNotFound]:
        """Apply `set`/`delete` lines (all or none). Returns the warnings (deletes of absent statements)."""
        work = self.copy()
        warnings: list[StatementNotFound] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            tokens = tokenize(line)
            verb, rest = tokens[0], tokens[1:]
            if not rest:
                raise ConfigSyntaxError(f"syntax error, expecting <statement> after '{verb}'", line=line)
            if verb == "set":
                work._set(statements(rest), line)
            elif verb == "delete":
                try:
                    work._delete(statements(rest, allow_bare_keyword=True), line)
                except StatementNotFound as warning:
                    warnings.append(warning)
            else:
                raise ConfigSyntaxError(f"syntax error: unknown command '{verb}' (the lab loads set and delete lines)", line=line)
        self.root = work.root
        return warnings

    def _set(self, path: list[str], line: str) -> None:
        node = self.root
        for depth, stmt in enumerate(path):
            _validate(stmt, line, path[:depth])
            keyword = _keyword(stmt)
            if keyword in SINGLE_VALUED and stmt not in node:
                for other in [s for s in node if _keyword(s) == keyword]:
                    del node[other]
            node = node.setdefault(stmt, {})

    def _delete(self, path: list[str], line: str) -> None:
        node = self.root
        for stmt in path[:-1]:
            if stmt not in node:
                raise StatementNotFound("statement not found", path="[edit " + " ".join(path[:-1]) + "]", line=line)
            node = node[stmt]
        last = path[-1]
        if last in node:
            del node[last]
            return
        if last in VALUE_KEYWORDS:  # `delete … description` removes whatever value it has
            matches = [s for s in node if _keyword(s) == last]
            for stmt in matches:
                del node[stmt]
            if matches:
                return
        raise StatementNotFound("statement not found", path="[edit " + " ".join(path[:-1]) + "]", line=line)

    # ------------------------------------------------------------------ reading
    def subtree(self, path: list[str]) -> ConfigTree:
        """The configuration restricted to `path` (kept under its parents), as a filter returns it."""
        node = self.root
        for stmt in path:
            if stmt not in node:
                return ConfigTree()
            node = node[stmt]
        result: Tree = copy.deepcopy(node)
        for stmt in reversed(path):
            result = {stmt: result}
        return ConfigTree(result)

    def merged(self, others: Iterable[ConfigTree]) -> ConfigTree:
        out = self.copy()
        for other in others:
            _merge(out.root, other.root)
        return out

    def set_lines(self) -> list[str]:
        lines: list[str] = []

        def walk(node: Tree, prefix: list[str]) -> None:
            for stmt, child in node.items():
                if child:
                    walk(child, prefix + [stmt])
                else:
                    lines.append("set " + " ".join(prefix + [stmt]))

        walk(self.root, [])
        return lines

    def text(self) -> str:
        return "".join(line + "\n" for line in _render(self.root, 0))

    def compare(self, old: ConfigTree) -> str:
        """`show | compare` of self against `old`: exactly "\\n" when they are equal, as Junos answers."""
        out: list[str] = []
        _compare(old.root, self.root, [], out)
        if not out:
            return "\n"
        return "\n" + "\n".join(out) + "\n"


def _merge(into: Tree, other: Tree) -> None:
    for stmt, child in other.items():
        _merge(into.setdefault(stmt, {}), child)


def _render(node: Tree, level: int) -> list[str]:
    pad = "    " * level
    lines: list[str] = []
    for stmt, child in node.items():
        if child:
            lines.append(f"{pad}{stmt} {{")
            lines.extend(_render(child, level + 1))
            lines.append(f"{pad}}}")
        else:
            lines.append(f"{pad}{stmt};")
    return lines


def _compare(old: Tree, new: Tree, path: list[str], out: list[str]) -> None:
    header_done = False

    def header() -> None:
        nonlocal header_done
        if not header_done:
            out.append("[edit" + ("" if not path else " " + " ".join(path)) + "]")
            header_done = True

    order = list(old) + [s for s in new if s not in old]
    nested: list[str] = []
    for stmt in order:
        if stmt in old and stmt not in new:
            header()
            out.extend("-   " + line for line in _render({stmt: old[stmt]}, 0))
        elif stmt in new and stmt not in old:
            header()
            out.extend("+   " + line for line in _render({stmt: new[stmt]}, 0))
        elif old[stmt] != new[stmt]:
            nested.append(stmt)
    for stmt in nested:
        _compare(old[stmt], new[stmt], path + [stmt], out)


def duplicate_addresses(tree: ConfigTree) -> list[tuple[str, str, str]]:
    """(address, first interface, second interface) for each address configured twice: commit check fails."""
    seen: dict[str, str] = {}
    clashes: list[tuple[str, str, str]] = []
    for line in tree.set_lines():
        tokens = tokenize(line)
        if len(tokens) > 2 and tokens[1] == "interfaces" and "address" in tokens:
            value = tokens[tokens.index("address") + 1]
            ip = str(ipaddress.ip_interface(value).ip)
            owner = tokens[2]
            if ip in seen and seen[ip] != owner:
                clashes.append((value, seen[ip], owner))
            seen.setdefault(ip, owner)
    return clashes
