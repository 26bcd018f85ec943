"""Follow a live Asterisk queue_log like `tail -F` and hand its events on, exactly once.

`QueueLogTailer` reads complete new lines, follows rotation by rename (the path names another
file: the old one is finished first) and by truncation (copytruncate: the file shrank or its
first line changed), and stores its position (file identity, byte offset, line number) with the
mapper's state in a small JSON file, atomically (write, fsync, rename), only after the events of
the lines read were handed off. A restart resumes there; event ids are deterministic, so lines
read again after a crash between hand-off and store give the same events. docs/asterisk-queue-log.md
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import orjson

from ccpulse.sources.queue_log import QueueLogMapper, WireEvent
from ccpulse.sources.queue_log_parse import LineParser

#: The first line (up to this many bytes) identifies a file's content: if it changes while the
#: inode stays, the file was truncated and written again.
HEAD_BYTES: Final = 256
CHUNK: Final = 1 << 20
#: Dead letters kept in `stats.dead_letters` by a long-running follower (all are counted).
KEEP_DEAD_LETTERS: Final = 1000

Sink = Callable[[list[WireEvent]], Awaitable[Any] | Any]
FileId = tuple[int, int]


@dataclass(frozen=True, slots=True)
class TailLine:
    """A complete line read: its number in its file, text, and the byte offset just past it."""

    line_no: int
    text: str
    end_offset: int


def _head(fh: IO[bytes]) -> tuple[int, str] | None:
    """(length, sha1) of the first line (at most HEAD_BYTES), None until it is complete."""
    fh.seek(0)
    data = fh.read(HEAD_BYTES)
    nl = data.find(b"\n")
    if nl >= 0:
        data = data[: nl + 1]
    elif len(data) < HEAD_BYTES:
        return None
    return len(data), hashlib.sha1(data).hexdigest()


def _head_matches(fh: IO[bytes], head: list[Any] | tuple[int, str] | None) -> bool:
    if head is None:
        return True
    fh.seek(0)
    return hashlib.sha1(fh.read(int(head[0]))).hexdigest() == head[1]


class QueueLogTailer:
    """Follows one queue_log file; `poll()` maps new lines, `commit()` stores the position.

    Sync use: `events = t.poll(); hand them off; t.commit()` (or `iter_new_lines()` for raw
    lines). Async use: `await t.run(sink)`. CSV exports are followed too (header kept in state).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        offset_store_path: str | os.PathLike[str],
        *,
        tenant: str = "default",
        source: str | None = None,
        time_zone: str = "UTC",
        start_at_end: bool = False,
        idle_flush_seconds: float = 2.0,
        max_lines_per_poll: int = 10_000,
        agent_aliases: Mapping[str, str] | None = None,
        wrapup_grace_seconds: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.store_path = Path(offset_store_path)
        self.time_zone = time_zone
        self.start_at_end = start_at_end
        self.idle_flush_seconds = idle_flush_seconds
        self.max_lines_per_poll = max_lines_per_poll
        self.mapper = QueueLogMapper(tenant, source or self.path.name,
                                     agent_aliases=agent_aliases,
                                     wrapup_grace_seconds=wrapup_grace_seconds)  # fmt: skip
        self.parser = LineParser(time_zone)
        self.rotations = 0
        self.truncations = 0
        self._fh: IO[bytes] | None = None
        self._fid: FileId | None = None
        self._offset = 0
        self._line_no = 0
        self._head: tuple[int, str] | None = None
        self._loaded = False
        self._dirty = False
        self._more = False
        self._last_line_at = time.monotonic()

    # -- position: load, store, roll back -------------------------------------------------------

    def _load(self) -> None:
        """Open the file to follow as the stored position says (or from the start)."""
        self._loaded = True
        state: dict[str, Any] | None = None
        if self.store_path.exists():
            try:
                state = orjson.loads(self.store_path.read_bytes())
            except orjson.JSONDecodeError as exc:
                raise ValueError(
                    f"offset store {self.store_path} is not valid JSON: {exc}"
                ) from None
        mapper_state = state.get("mapper") if state else None
        if mapper_state:
            self.mapper.load_state(mapper_state)
        self.parser = LineParser(self.time_zone, state.get("csv_header") if state else None)
        if state and state.get("file"):
            dev, ino = state["file"]
            offset, line_no, head = state["offset"], state["line_no"], state.get("head")
            for candidate in self._candidates((dev, ino)):
                fh = self._try_open(candidate, (dev, ino))
                if fh is None:
                    continue
                if _head_matches(fh, head) and os.fstat(fh.fileno()).st_size >= offset:
                    self._adopt(fh, offset, line_no)
                    self._head = (int(head[0]), str(head[1])) if head else None
                    return
                fh.close()
            # The stored file is gone, truncated or replaced: read what the path holds now.
            try:
                same = (os.stat(self.path).st_dev, os.stat(self.path).st_ino) == (dev, ino)
            except OSError:
                same = False
            if same:
                self.truncations += 1
            else:
                self.rotations += 1
            self.parser.reset()
        self._open_path(at_end=self.start_at_end and state is None)

    def _candidates(self, fid: FileId) -> Iterator[Path]:
        """The path, then files of its directory with the stored identity (rotated away)."""
        yield self.path
        try:
            entries = list(os.scandir(self.path.parent))
        except OSError:
            return
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == fid and Path(entry.path) != self.path:
                yield Path(entry.path)

    @staticmethod
    def _try_open(path: Path, fid: FileId) -> IO[bytes] | None:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - kept open while following
        except OSError:
            return None
        st = os.fstat(fh.fileno())
        if (st.st_dev, st.st_ino) != fid:
            fh.close()
            return None
        return fh

    def _adopt(self, fh: IO[bytes], offset: int, line_no: int) -> None:
        if self._fh is not None:
            self._fh.close()
        st = os.fstat(fh.fileno())
        self._fh, self._fid = fh, (st.st_dev, st.st_ino)
        self._offset, self._line_no, self._head = offset, line_no, None

    def _open_path(self, at_end: bool = False) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            return False
        offset = line_no = 0
        if at_end:  # after the last complete line, numbering lines as in the file
            read = 0
            while chunk := fh.read(CHUNK):
                if (nl := chunk.rfind(b"\n")) >= 0:
                    offset = read + nl + 1
                line_no += chunk.count(b"\n")
                read += len(chunk)
        self._adopt(fh, offset, line_no)
        self._dirty = True
        return True

    def commit(self) -> None:
        """Store the position of every line read so far (call once their events are handed off)."""
        if self._fh is not None and self._head is None and self._offset > 0:
            self._head = _head(self._fh)
        doc = {
            "version": 1,
            "path": str(self.path),
            "file": list(self._fid) if self._fid else None,
            "offset": self._offset,
            "line_no": self._line_no,
            "head": list(self._head) if self._head else None,
            "csv_header": self.parser.state(),
            "mapper": self.mapper.state(),
        }
        tmp = self.store_path.with_name(self.store_path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(orjson.dumps(doc))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.store_path)
        try:
            dir_fd = os.open(self.store_path.parent, os.O_RDONLY)
        except OSError:
            pass
        else:
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        self._dirty = False

    def rollback(self) -> None:
        """Forget what was read since the last commit (the next poll starts from the store)."""
        self.close()
        old = self.mapper
        self.mapper = QueueLogMapper(old.tenant, old.source, agent_aliases=old.agent_aliases,
                                     wrapup_grace_seconds=old.grace_ms / 1000)  # fmt: skip
        self.mapper.stats = old.stats
        self._loaded = False
        self._dirty = False

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self._fh, self._fid = None, None

    # -- reading --------------------------------------------------------------------------------

    def iter_new_lines(self, max_lines: int | None = None) -> Iterator[TailLine]:
        """Complete lines written since the last call, across rotations; a last line without
        its newline waits for it. Lines yielded count as read (see `commit`)."""
        if not self._loaded:
            self._load()
        count = 0
        while True:
            if self._fh is None and not self._open_path():
                return
            if self._truncated():
                self._restart_file()
                self.truncations += 1
            for line in self._complete_lines():
                yield line
                count += 1
                if max_lines is not None and count >= max_lines:
                    return
            if not self._rotated():
                return
            tail = self._rest()  # the old file ends without a newline: take it as is
            if tail:
                self._line_no += 1
                self._offset += len(tail)
                yield TailLine(self._line_no, _text(tail), self._offset)
            self.rotations += 1
            self.close()
            self.parser.reset()
            self._open_path()

    def _restart_file(self) -> None:
        self._offset, self._line_no, self._head = 0, 0, None
        self.parser.reset()
        self._dirty = True

    def _complete_lines(self) -> Iterator[TailLine]:
        assert self._fh is not None
        fh = self._fh
        read_pos = self._offset
        buf = b""
        while True:
            fh.seek(read_pos)  # the consumer may have moved the handle (commit reads the head)
            chunk = fh.read(CHUNK)
            if not chunk:
                return
            read_pos += len(chunk)
            buf += chunk
            start = 0
            while (nl := buf.find(b"\n", start)) >= 0:
                raw = buf[start:nl]
                if self._offset == 0:  # the first line identifies the file's content
                    first = (
                        raw[: HEAD_BYTES - 1] + b"\n" if len(raw) < HEAD_BYTES else raw[:HEAD_BYTES]
                    )
                    self._head = (len(first), hashlib.sha1(first).hexdigest())
                start = nl + 1
                self._line_no += 1
                self._offset += len(raw) + 1
                yield TailLine(self._line_no, _text(raw), self._offset)
            buf = buf[start:]

    def _rest(self) -> bytes:
        assert self._fh is not None
        self._fh.seek(self._offset)
        return self._fh.read()

    def _rotated(self) -> bool:
        """The path names another file, which has data (until then Asterisk may still write to
        the old one); a path renamed away and not created again yet is no rotation either."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (st.st_dev, st.st_ino) != self._fid and st.st_size > 0

    def _truncated(self) -> bool:
        """The open file shrank below the offset, or its first line changed (emptied and
        written past the old offset between two polls)."""
        if self._fh is None or self._offset == 0:
            return False
        if os.fstat(self._fh.fileno()).st_size < self._offset:
            return True
        if self._head is None:
            self._head = _head(self._fh)
            return False
        return not _head_matches(self._fh, self._head)

    # -- mapping and handing off ----------------------------------------------------------------

    def poll(self) -> list[WireEvent]:
        """Events of the lines written since the last poll (held-back events are released when
        the file has been idle for `idle_flush_seconds`)."""
        events: list[WireEvent] = []
        count = 0
        for line in self.iter_new_lines(self.max_lines_per_poll):
            count += 1
            events += self.mapper.feed(self.parser.parse(line.text, line.line_no))
        now = time.monotonic()
        if count:
            self._last_line_at = now
            self._dirty = True
        elif self.mapper.pending and now - self._last_line_at >= self.idle_flush_seconds:
            # Only what is due: the end of a wrap-up of known length waits for its instant, so a
            # pause logged during the wrap-up can still supersede it.
            released = self.mapper.flush(until_ms=int(time.time() * 1000))
            if released:
                events += released
                self._dirty = True
        self._more = count >= self.max_lines_per_poll
        dead = self.mapper.stats.dead_letters
        if len(dead) > KEEP_DEAD_LETTERS:
            del dead[:-KEEP_DEAD_LETTERS]
        return events

    async def run(
        self, sink: Sink, poll_interval: float = 1.0, stop: asyncio.Event | None = None
    ) -> None:
        """Poll, hand each non-empty list of events to `sink` (sync or async), then store the
        position; until `stop` is set. If the sink fails, nothing read since the last store is
        kept: the error propagates and the next run reads those lines again."""
        while stop is None or not stop.is_set():
            try:
                events = self.poll()
                if events:
                    result = sink(events)
                    if inspect.isawaitable(result):
                        await result
            except BaseException:
                self.rollback()
                raise
            if self._dirty:
                self.commit()
            if self._more:
                await asyncio.sleep(0)
            elif stop is None:
                await asyncio.sleep(poll_interval)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_interval)


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", "surrogateescape")
