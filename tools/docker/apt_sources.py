"""Debian apt sources: read the host's, keep what a Debian image can use, render them for it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

SUITE = "bookworm"
DEFAULT_APT_SOURCES_TEXT = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


@dataclasses.dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def parse_apt_sources(text: str, *, deb822: bool) -> list[AptSource]:
    """Binary ("deb") entries of a sources.list (one-line) or *.sources (deb822) file."""
    found = []
    if deb822:
        for paragraph in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            for line in paragraph.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                continue
            for uri in fields.get("uris", "").split():
                found.append(
                    AptSource(uri, tuple(fields.get("suites", "").split()), tuple(fields.get("components", "").split()))
                )
    else:
        for line in text.splitlines():
            line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()  # drop [options]
            if len(line) >= 3 and line[0] == "deb":
                found.append(AptSource(line[1], (line[2],), tuple(line[3:])))
    return found


def host_apt_sources(apt_dir: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every binary entry apt on this host reads (sources.list, sources.list.d/*.list|*.sources)."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list"))]
    found = [s for f in files if f.is_file() for s in parse_apt_sources(f.read_text(), deb822=False)]
    for f in sorted((apt_dir / "sources.list.d").glob("*.sources")):
        found += parse_apt_sources(f.read_text(), deb822=True)
    return found


def image_apt_sources(host: Sequence[AptSource]) -> list[AptSource]:
    """The host's bookworm entries (main, -updates, -security), or deb.debian.org if it has none."""
    kept = []
    for source in host:
        suites = tuple(s for s in source.suites if s == SUITE or s.startswith(SUITE + "-"))
        if suites:
            kept.append(AptSource(source.uri, suites, source.components or ("main",)))
    if not any(SUITE in s.suites for s in kept):
        return parse_apt_sources(DEFAULT_APT_SOURCES_TEXT, deb822=True)
    return kept


def debian_mirror(sources: Sequence[AptSource]) -> str:
    """The mirror debootstrap uses: the entry carrying the bare `bookworm` suite."""
    return next(s.uri for s in sources if SUITE in s.suites)


def render_deb822(sources: Sequence[AptSource]) -> str:
    return "\n".join(
        f"Types: deb\nURIs: {s.uri}\nSuites: {' '.join(s.suites)}\nComponents: {' '.join(s.components)}\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        for s in sources
    )
