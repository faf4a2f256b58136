"""A wheel read where it lies, a local file or a URL, without fetching all of it.

A wheel is a zip: its end-of-central-directory record (the last 22 bytes to 64 kB) says where
the central directory is, and the central directory lists every member with its sizes and
offset. So two range requests give the member list of a 3 GB torch wheel, and one more per
member gives the few files ptenv reads (torch/version.py, CUDAConfig.h, METADATA).
"""

from __future__ import annotations

import struct
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ptenv import _http

_TAIL = 65536 + 22  # the EOCD record and the longest comment a zip may carry
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_CENTRAL_FORMAT = "<4s6H3I5H2I"  # 46 bytes
_LOCAL_FORMAT = "<4s5H3I2H"  # 30 bytes
MAX_DIRECTORY = 256 * 2**20  # a central directory larger than this is not a wheel's
MAX_MEMBER = 64 * 2**20  # ptenv reads small text members only


class WheelUnreadable(Exception):
    """The file is not a readable zip (truncated, not a zip, too large a member)."""


@dataclass(frozen=True)
class Member:
    name: str
    method: int  # 0 stored, 8 deflated
    compressed: int
    size: int
    offset: int  # of its local header
    crc: int


@dataclass
class Archive:
    location: str  # the path or URL (with credentials, never shown: see redact)
    size: int
    members: dict[str, Member]
    read: Callable[[int, int], bytes]
    fetched: int = 0  # bytes read so far: the honest cost of looking
    held: bytes = b""  # the end of the file, already read for the directory
    held_start: int = 0

    @property
    def unpacked(self) -> int:
        """What installing it writes: the sum of its members' sizes."""
        return sum(member.size for member in self.members.values())

    def member(self, name: str, limit: int = MAX_MEMBER) -> bytes:
        """One member's bytes, CRC-checked; KeyError if the wheel has no such member."""
        entry = self.members[name]
        if entry.size > limit or entry.compressed > limit:
            raise WheelUnreadable(f"{name} is {entry.size} bytes, more than ptenv reads")
        # the local header's name and extra field are usually those of the central one
        guess = 30 + len(entry.name.encode()) + 256
        raw = self._read(entry.offset, guess + entry.compressed)
        header = struct.unpack(_LOCAL_FORMAT, raw[:30])
        if header[0] != _LOCAL:
            raise WheelUnreadable(f"no local header for {name} at {entry.offset}")
        start = 30 + header[9] + header[10]
        if start + entry.compressed > len(raw):
            raw += self._read(entry.offset + len(raw), start + entry.compressed - len(raw))
        data = raw[start : start + entry.compressed]
        if entry.method == 8:
            try:
                data = zlib.decompress(data, -15)
            except zlib.error as error:
                raise WheelUnreadable(f"{name} does not inflate: {error}") from None
        elif entry.method != 0:
            raise WheelUnreadable(f"{name} uses zip method {entry.method}")
        if zlib.crc32(data) != entry.crc or len(data) != entry.size:
            raise WheelUnreadable(f"{name} fails its CRC check")
        return data

    def _read(self, start: int, length: int) -> bytes:
        length = max(0, min(length, self.size - start))
        offset = start - self.held_start
        if offset >= 0 and offset + length <= len(self.held):
            return self.held[offset : offset + length]  # a small wheel: read once, not twice
        data = self.read(start, length) if length else b""
        self.fetched += len(data)
        return data


def open_wheel(location: str) -> Archive:
    """The member list of a wheel at a path, file:// URL or http(s) URL.

    _http.RangesRefused when the server sends whole files only; _http.HttpError when it
    cannot be reached; WheelUnreadable when it is not a zip; OSError for a local file."""
    if location.startswith(("http://", "https://")):
        return _open_remote(location)
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(location).path))
    if not location.startswith("file:"):
        path = Path(location)
    return _open_local(location, path)


def _open_local(location: str, path: Path) -> Archive:
    size = path.stat().st_size

    def read(start: int, length: int) -> bytes:
        with path.open("rb") as handle:
            handle.seek(start)
            return handle.read(length)

    tail_start = max(0, size - _TAIL)
    return _parse(location, size, tail_start, read(tail_start, size - tail_start), read)


def _open_remote(url: str) -> Archive:
    last = _http.get_range(url, None, _TAIL)

    def read(start: int, length: int) -> bytes:
        return _http.get_range(url, start, length).data

    return _parse(url, last.size, last.start, last.data, read)


def _parse(
    location: str, size: int, tail_start: int, tail: bytes, read: Callable[[int, int], bytes]
) -> Archive:
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise WheelUnreadable("no zip end-of-central-directory record (truncated, or not a zip)")
    _, _, _, _, entries, directory_size, directory_offset, _ = struct.unpack(
        "<4s4H2IH", tail[at : at + 22]
    )
    if entries == 0xFFFF or 0xFFFFFFFF in (directory_size, directory_offset):
        directory_size, directory_offset = _zip64_directory(tail, at, tail_start, read)
    if directory_size > MAX_DIRECTORY or directory_offset + directory_size > size:
        raise WheelUnreadable("its central directory lies outside the file")
    held, held_start = tail, tail_start
    if directory_offset < tail_start:  # the part before the tail, joined to the part read
        held = read(directory_offset, tail_start - directory_offset) + tail
        held_start = directory_offset
    begin = directory_offset - held_start
    return Archive(
        location=location,
        size=size,
        members=_members(held[begin : begin + directory_size]),
        read=read,
        fetched=len(held),
        held=held,
        held_start=held_start,
    )


def _zip64_directory(
    tail: bytes, at: int, tail_start: int, read: Callable[[int, int], bytes]
) -> tuple[int, int]:
    locator = tail[at - 20 : at]
    if len(locator) != 20 or locator[:4] != _ZIP64_LOCATOR:
        raise WheelUnreadable("a zip64 wheel without its zip64 locator")
    (record_offset,) = struct.unpack("<Q", locator[8:16])
    if record_offset >= tail_start:
        record = tail[record_offset - tail_start : record_offset - tail_start + 56]
    else:
        record = read(record_offset, 56)
    if len(record) != 56 or record[:4] != _ZIP64_EOCD:
        raise WheelUnreadable("a broken zip64 end-of-central-directory record")
    directory_size, directory_offset = struct.unpack("<QQ", record[40:56])
    return directory_size, directory_offset


def _members(directory: bytes) -> dict[str, Member]:
    members: dict[str, Member] = {}
    at = 0
    while at + 46 <= len(directory) and directory[at : at + 4] == _CENTRAL:
        fields = struct.unpack(_CENTRAL_FORMAT, directory[at : at + 46])
        method, crc, compressed, size = fields[4], fields[7], fields[8], fields[9]
        name_length, extra_length, comment_length = fields[10], fields[11], fields[12]
        offset = fields[16]
        name = directory[at + 46 : at + 46 + name_length].decode("utf-8", errors="replace")
        extra = directory[at + 46 + name_length : at + 46 + name_length + extra_length]
        size, compressed, offset = _zip64_sizes(extra, size, compressed, offset)
        members[name] = Member(name, method, compressed, size, offset, crc)
        at += 46 + name_length + extra_length + comment_length
    if at != len(directory):
        raise WheelUnreadable("its central directory is cut short or corrupt")
    return members


def _zip64_sizes(extra: bytes, size: int, compressed: int, offset: int) -> tuple[int, int, int]:
    """The zip64 extra field holds, in this order, whichever of the three overflowed."""
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack("<HH", extra[at : at + 4])
        if kind == 1:
            count = length // 8
            values = list(struct.unpack(f"<{count}Q", extra[at + 4 : at + 4 + 8 * count]))
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
        at += 4 + length
    return size, compressed, offset
