"""The lab switch's NETCONF reply pieces: a filter's configuration path, and Junos-shaped <rpc-error>s. Pure."""
from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

from apps.lab.junos_config import VALUE_KEYWORDS


def filter_path(element: etree._Element) -> list[str]:
    """`<interfaces><interface><name>xe-0/0/1</name></interface></interfaces>` → ["interfaces", "xe-0/0/1"]."""
    path = [etree.QName(element).localname]
    node = element
    while True:
        children = [c for c in node if isinstance(c.tag, str) and etree.QName(c).localname != "name"]
        if not children:
            return path
        node = children[0]
        tag = etree.QName(node).localname
        name = next((c.text.strip() for c in node if isinstance(c.tag, str) and etree.QName(c).localname == "name" and c.text), None)
        if name is None:
            path.append(tag)
        else:
            # A list entry: interfaces are named by themselves, a unit is `unit 0`.
            path.append(f"{tag} {name}" if tag in VALUE_KEYWORDS else name)


def rpc_error(message: str, *, tag: str, type_: str, severity: str = "error", path: str = "", info: str = "", extra: str = "") -> str:
    path_xml = f"<error-path>{escape(path)}</error-path>" if path else ""
    info_xml = f"<error-info>{info}</error-info>" if info else ""
    return (f"<rpc-error><error-type>{type_}</error-type><error-tag>{tag}</error-tag><error-severity>{severity}</error-severity>"
            f"{path_xml}<error-message>{escape(message)}</error-message>{info_xml}{extra}</rpc-error>")


def commit_error(problems: list[str]) -> str:
    errors = "".join(rpc_error(p, tag="invalid-value", type_="application", path="[edit interfaces]") for p in problems)
    return f"<commit-results>{errors}</commit-results>"
