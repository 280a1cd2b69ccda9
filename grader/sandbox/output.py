"""The worker's own output (stdout and stderr), drained so it never blocks, last bytes kept."""

from __future__ import annotations

import collections
import threading

from grader.text import clean


class OutputTail(threading.Thread):
    """Drains the worker's stdout/stderr, keeping only the last ``limit`` bytes."""

    def __init__(self, stream, limit: int):
        super().__init__(daemon=True)
        self.stream, self.limit = stream, limit
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0

    def run(self) -> None:
        for chunk in iter(lambda: self.stream.read1(65536), b""):
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size > self.limit and len(self.chunks) > 1:
                self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        return clean(b"".join(self.chunks)[-self.limit :].decode("utf-8", "replace"))
