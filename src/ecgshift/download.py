"""Download public ECG datasets from PhysioNet, verified against their SHA256SUMS.

PhysioNet serves each project version at ``{base}/{slug}/{version}/{path}`` with a
``SHA256SUMS.txt`` at its root (``<sha256> <relative path>`` per line). The
download fetches that list, selects the entries of the dataset (its ``subdir``
and file patterns), streams each file to a temporary file next to its target,
verifies its sha256 and only then moves it into place. Files already present
with the right checksum are skipped, so an interrupted download resumes.

Files land under ``to/<path inside subdir>`` (or ``to/<file name>`` for a
``flatten`` source such as cinc2017, whose records PhysioNet splits into
``training/A00/`` ... ``A08/``): a dataset folder that holds the records
directly, as the dataset readers expect.
"""

from __future__ import annotations

import fnmatch
import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Sequence, TypeVar

from ecgshift.errors import BadInputError
from ecgshift.errors import UnknownNameError

__all__ = [
    "DEFAULT_BASE_URL", "ENV_BASE_URL", "SOURCES", "PhysioNetSource", "DownloadFailure",
    "DownloadReport", "download_dataset", "get_source", "list_sources",
]

#: Root of PhysioNet's file server.
DEFAULT_BASE_URL = "https://physionet.org/files"
#: Environment variable that overrides :data:`DEFAULT_BASE_URL` (a mirror, a test server).
ENV_BASE_URL = "ECGSHIFT_PHYSIONET_URL"
_CHECKSUMS = "SHA256SUMS.txt"
_ATTEMPTS = 3  # tries per request for network errors and HTTP 5xx
_RETRY_DELAY_S = 1.0  # waited before try n+1: n * _RETRY_DELAY_S
_CHUNK = 1 << 20
_NET_ERRORS = (OSError, http.client.HTTPException)  # URLError, HTTPError, timeouts are OSErrors
T = TypeVar("T")

#: Progress callback: ``on_file(path, done, total)`` after each file is handled
#: (downloaded, skipped or failed); ``done`` of ``total`` selected files.
OnFile = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PhysioNetSource:
    """One PhysioNet project version and which of its files make the dataset."""

    name: str
    slug: str
    version: str
    subdir: str = ""  # folder inside the project that holds the dataset ('' = root)
    modality: str = "unknown"  # one of ecgshift.MODALITIES
    file_patterns: tuple[str, ...] | None = None  # fnmatch patterns on the local path; None = all
    flatten: bool = False  # store by file name only; on a name clash the shallowest path wins

    @property
    def page(self) -> str:
        """The project's human-readable PhysioNet page."""
        return f"https://physionet.org/content/{self.slug}/{self.version}/"


SOURCES: dict[str, PhysioNetSource] = {
    s.name: s
    for s in (
        PhysioNetSource("mitdb", "mitdb", "1.0.0", "", "hecg"),
        PhysioNetSource("cinc2017", "challenge-2017", "1.0.0", "training", "tecg", flatten=True),
        PhysioNetSource("ptbxl", "ptb-xl", "1.0.3", "", "recg"),
        PhysioNetSource("ltafdb", "ltafdb", "1.0.0", "", "hecg"),
        PhysioNetSource("nsr2db", "nsr2db", "1.0.0", "", "hecg"),
        # The Holter sets for generalization checks, restricted to the records the shared collection holds (its
        # README: aftdb test set B and the afpdb test records t01-t100 and *c continuations are held back), and
        # afdb to its annotations (no waveforms, as in the collection). Their readers also need the collection's
        # labels.csv / label_details.csv (derived from the databases' definitions, see each folder's SOURCE.txt):
        # a download does not include them, and the reader names the missing file.
        PhysioNetSource("aftdb", "aftdb", "1.0.0", "", "hecg", file_patterns=("[nsta][0-9][0-9].*",), flatten=True),
        PhysioNetSource("afpdb", "afpdb", "1.0.0", "", "hecg", file_patterns=("[np][0-9][0-9].*",)),
        PhysioNetSource("afdb", "afdb", "1.0.0", "", "hecg", file_patterns=("*.hea", "*.atr", "*.qrs")),
    )
}


@dataclass(frozen=True)
class DownloadFailure:
    """A file that could not be fetched, with a one-line reason."""

    path: str
    reason: str


@dataclass
class DownloadReport:
    """What :func:`download_dataset` did; paths are relative to the target folder."""

    source: str
    target: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[DownloadFailure] = field(default_factory=list)
    bytes: int = 0  # bytes downloaded (skipped files not counted)

    @property
    def ok(self) -> bool:
        """True when every selected file is in place and verified."""
        return not self.failed


def list_sources() -> list[PhysioNetSource]:
    """All known datasets, sorted by name."""
    return [SOURCES[k] for k in sorted(SOURCES)]


def get_source(name: str) -> PhysioNetSource:
    """The source registered under exactly ``name``; KeyError naming the known ones."""
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownNameError("dataset", name, sorted(SOURCES)) from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _retrying(fn: Callable[[], T]) -> T:
    """Call ``fn``, again after network errors and HTTP 5xx; 4xx and others raise at once."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return fn()
        except urllib.error.HTTPError as e:
            e.close()  # the error body is not used; code and reason stay readable
            if e.code < 500 or attempt == _ATTEMPTS:
                raise
        except _NET_ERRORS:
            if attempt == _ATTEMPTS:
                raise
        time.sleep(attempt * _RETRY_DELAY_S)
    raise AssertionError("unreachable")  # pragma: no cover


def _open(url: str, timeout_s: float) -> Any:
    """An open HTTP response for ``url``."""
    req = urllib.request.Request(url, headers={"User-Agent": "ecgshift-download"})
    return urllib.request.urlopen(req, timeout=timeout_s)


def _read_text(url: str, timeout_s: float) -> str:
    with _open(url, timeout_s) as resp:
        return resp.read().decode("utf-8", errors="replace")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach server ({exc.reason})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _parse_checksums(text: str, url: str) -> list[tuple[str, str]]:
    """``(sha256, project path)`` pairs of a SHA256SUMS.txt; unsafe paths rejected."""
    entries = []
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64 or line.lstrip().startswith("#"):
            continue
        digest, path = parts[0].lower(), parts[1].lstrip("*")
        p = PurePosixPath(path)
        if p.is_absolute() or ".." in p.parts:
            raise BadInputError(url, f"unsafe path in checksum list: {path!r}")
        entries.append((digest, path))
    if not entries:
        raise BadInputError(url, "no sha256 entries found; is this a PhysioNet SHA256SUMS.txt?")
    return entries


def _select(entries: list[tuple[str, str]], source: PhysioNetSource,
            patterns: Sequence[str] | None) -> list[tuple[str, str, str]]:
    """``(sha256, project path, local path)`` of the source's entries whose local path matches a pattern."""
    prefix = source.subdir.strip("/") + "/" if source.subdir.strip("/") else ""
    chosen: dict[str, tuple[str, str, str]] = {}
    for digest, path in sorted(entries, key=lambda e: (e[1].count("/"), e[1])):  # shallowest first
        local = path[len(prefix):] if path.startswith(prefix) else None
        if local is not None and source.flatten:
            local = PurePosixPath(local).name
        if local is None or local in chosen:
            continue
        if patterns is None or any(fnmatch.fnmatchcase(local, p) for p in patterns):
            chosen[local] = (digest, path, local)
    return sorted(chosen.values(), key=lambda e: e[1])


def _fetch(url: str, dest: Path, digest: str, timeout_s: float) -> int:
    """Stream ``url`` to ``dest`` via a temp file; returns bytes; ValueError on a bad checksum."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h, n = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, _open(url, timeout_s) as resp:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                out.write(chunk)
                h.update(chunk)
                n += len(chunk)
        if h.hexdigest() != digest:
            raise ValueError(f"sha256 mismatch: expected {digest}, got {h.hexdigest()} ({n} bytes); file not kept")
        os.replace(tmp, dest)
        return n
    finally:
        tmp.unlink(missing_ok=True)


def download_dataset(
    name: str,
    to: str | Path,
    *,
    base_url: str | None = None,
    patterns: Sequence[str] | None = None,
    on_file: OnFile | None = None,
    timeout_s: float = 60.0,
) -> DownloadReport:
    """Download dataset ``name`` into folder ``to``, verifying every file's sha256.

    ``base_url`` (else env ``ECGSHIFT_PHYSIONET_URL``, else PhysioNet) is the
    root above ``{slug}/{version}/``. ``patterns`` (fnmatch, on the path inside
    the dataset folder, e.g. ``"100.*"`` or ``"records100/*"``) replace the
    source's own ``file_patterns``. Files already present and verified are
    skipped. Per-file problems are collected in ``report.failed``; an
    unreachable server or a missing checksum list raises :class:`BadInputError`.
    """
    source = get_source(name)
    base = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")
    root = f"{base}/{source.slug}/{source.version}/"
    target = Path(to).expanduser()
    report = DownloadReport(source=source.name, target=target)

    sums_url = root + _CHECKSUMS
    try:
        text = _retrying(partial(_read_text, sums_url, timeout_s))
    except _NET_ERRORS as e:
        raise BadInputError(sums_url, f"cannot get the checksum list: {_reason(e)}") from None
    chosen = _select(_parse_checksums(text, sums_url), source,
                     source.file_patterns if patterns is None else patterns)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInputError(target, f"cannot create the target folder: {e.strerror or e}") from None

    for i, (digest, path, local) in enumerate(chosen, 1):
        dest = target.joinpath(*PurePosixPath(local).parts)
        try:
            if dest.is_file() and _sha256(dest) == digest:
                report.skipped.append(local)
            else:
                url = root + urllib.parse.quote(path)
                report.bytes += _retrying(partial(_fetch, url, dest, digest, timeout_s))
                report.downloaded.append(local)
        except (*_NET_ERRORS, ValueError) as e:
            reason = str(e) if isinstance(e, ValueError) else _reason(e)
            report.failed.append(DownloadFailure(local, " ".join(reason.split())))
        if on_file is not None:
            on_file(local, i, len(chosen))
    return report
