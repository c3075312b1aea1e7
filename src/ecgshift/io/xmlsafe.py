"""Shared XML plumbing for the XML ECG readers (HL7 aECG, GE MUSE): safe parsing and namespace-blind lookups.

Files are parsed with ``defusedxml`` (no entity expansion, no external
references: ECG files come from outside), and elements are found by local name,
so a file that omits or renames its namespace prefix reads the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET

from ecgshift.errors import BadInputError

__all__ = ["parse", "local", "children", "child", "text_of", "MAX_XML_BYTES"]

#: XML ECGs are a few MB at most (a 10-s 12-lead MUSE file is ~200 kB); larger files are refused.
MAX_XML_BYTES = 256 * 1024 * 1024


def parse(path: Path, *, root: str) -> Element:
    """The root element, which must be named ``root``, or a one-line reason why the file is not usable."""
    if not path.is_file():
        raise BadInputError(path, "file not found")
    size = path.stat().st_size
    if size > MAX_XML_BYTES:
        raise BadInputError(path, f"XML file of {size / 1e6:.0f} MB is larger than an ECG file can be")
    try:
        element = SafeET.parse(path).getroot()
    except Exception as exc:  # ParseError, defusedxml's EntitiesForbidden / DTDForbidden / ExternalReferenceForbidden
        text = " ".join(str(exc).split())[:160]
        raise BadInputError(path, f"not well-formed or unsafe XML ({type(exc).__name__}: {text})") from None
    if local(element.tag) != root:
        raise BadInputError(path, f"root element is <{local(element.tag)}>, expected <{root}>")
    return element


def local(tag: object) -> str:
    """``'{urn:hl7-org:v3}series'`` → ``'series'`` (comments and processing instructions → '')."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(element: Element, name: str) -> Iterator[Element]:
    """Direct children with this local name."""
    return (c for c in element if local(c.tag) == name)


def child(element: Element | None, *names: str) -> Element | None:
    """The first descendant along a path of local names (``child(e, 'value', 'head')``), or None."""
    for name in names:
        if element is None:
            return None
        element = next(children(element, name), None)
    return element


def text_of(element: Element | None, *names: str) -> str:
    """The stripped text at a path of local names ('' when absent)."""
    found = child(element, *names)
    return (found.text or "").strip() if found is not None else ""
