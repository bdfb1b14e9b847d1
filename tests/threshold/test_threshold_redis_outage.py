"""The redis store through an outage of its own making: a TCP relay in front of the real
redis-server that drops every connection and refuses new ones, then accepts again. The
store raises ``StateUnavailableError`` after its retry deadline, reports redis
unreachable (``/readyz``), and works again by itself once redis answers."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from streamproc.config.state import RedisStateConfig
from streamproc.dependencies import DEPENDENCIES
from streamproc.threshold.base import CameraState
from streamproc.threshold.errors import StateUnavailableError
from streamproc.threshold.redis import RedisStateStore

pytestmark = pytest.mark.redis


class Relay:
    """127.0.0.1:port -> target; ``cut()`` closes every connection and the listener,
    ``mend()`` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.mend()

    def mend(self) -> None:
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", self.port))
        lsock.listen()
        self.port = lsock.getsockname()[1]
        self._listener = lsock
        threading.Thread(target=self._accept, args=(lsock,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, []
            if self._listener is not None:
                socks.append(self._listener)
                self._listener = None
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, lsock: socket.socket) -> None:
        while True:
            try:
                client, _ = lsock.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def relay(redis_url: str) -> Iterator[tuple[Relay, str]]:
    url = urlparse(redis_url)
    r = Relay((url.hostname or "127.0.0.1", url.port or 6379))
    yield r, f"redis://127.0.0.1:{r.port}{url.path}"
    r.cut()


def test_a_redis_outage_is_reported_and_ridden_out(relay: tuple[Relay, str]) -> None:
    proxy, url = relay
    cfg = RedisStateConfig(
        type="redis",
        url=url,
        key_prefix=f"test-outage-{uuid.uuid4().hex[:8]}",
        connect_timeout_s=0.5,
        retry_deadline_s=0.5,
    )
    store = RedisStateStore(cfg)
    try:
        store.transact("cam", lambda _: (CameraState(last_seq=7), None))
        proxy.cut()
        for _ in range(2):  # each call tries again; none is left with a dead connection
            with pytest.raises(StateUnavailableError, match="cannot reach redis"):
                store.get_state("cam")
            assert "redis" in DEPENDENCIES.unreachable()
        proxy.mend()
        state = store.get_state("cam")
        assert state is not None and state.last_seq == 7
        assert "redis" not in DEPENDENCIES.unreachable()
        store.delete("cam")
    finally:
        store.close()
    assert DEPENDENCIES.unreachable() == {}
