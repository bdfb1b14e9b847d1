"""Fakes of the transport's parts that behave like the real ones where tests depend on it."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from streamproc.transport.base import OnDelivery
from streamproc.transport.wire import WireWindow
from tests.helpers import read_windows


@dataclass
class _InFlight:
    on_delivery: OnDelivery
    error: BaseException | None  # what the broker will answer


class RecordingProducer:
    """Records every send and acknowledges it later, as kafka-python does.

    The real producer never calls ``on_delivery`` inside ``send``: the broker's answer
    arrives on the client's network thread some time later, and ``flush`` waits for it.
    So here a send only queues its acknowledgement, and the acknowledgements are given on
    a separate thread by ``flush`` (or, with ``lag``, once more than ``lag`` later sends
    are queued behind it: a broker that answers while the sender goes on). Code that
    assumed a window acknowledged by the time ``send`` returns fails against this fake
    as it would against the broker.
    """

    def __init__(self, lag: int | None = None) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]]]] = []
        self.flushes = 0
        self.delivered = 0  # acknowledgements given so far (successes and failures)
        self.fail: BaseException | None = None  # what the broker answers to later sends
        # Acknowledge only this many sends; later ones stay in flight forever, as when
        # the process is killed before the broker answers. None = every send.
        self.acks: int | None = None
        self.lag = lag
        self._in_flight: list[_InFlight] = []
        self._answerable = 0  # of _in_flight, sends the broker will ever answer

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: OnDelivery | None = None,
    ) -> None:
        self.sent.append((topic, value, key, list(headers or [])))
        if on_delivery is None:
            return
        self._in_flight.append(_InFlight(on_delivery, self.fail))
        if self.acks is None or len(self.sent) <= self.acks:
            self._answerable += 1
        if self.lag is not None and self._answerable > self.lag:
            self._answer(self._answerable - self.lag)

    def flush(self, timeout_s: float | None = None) -> None:
        """Gives every answer the broker will give. Sends past ``acks`` stay unanswered:
        they stand for a process killed before its flush returned."""
        self.flushes += 1
        self._answer(self._answerable)

    def _answer(self, n: int) -> None:
        """The oldest ``n`` answers, on another thread (kafka-python's sender thread);
        an exception in a callback fails the test instead of being logged and lost."""
        answers, self._in_flight = self._in_flight[:n], self._in_flight[n:]
        self._answerable -= n
        raised: list[BaseException] = []

        def network() -> None:
            for a in answers:
                try:
                    a.on_delivery(a.error)
                except BaseException as err:  # re-raised on the caller's thread
                    raised.append(err)
                self.delivered += 1

        thread = threading.Thread(target=network, name="fake-kafka-network")
        thread.start()
        thread.join()
        if raised:
            raise raised[0]

    def close(self) -> None:
        pass

    def windows(self, camera: str) -> list[tuple[WireWindow, dict[str, bytes]]]:
        """The camera's whole windows (built from version-2 messages) and headers."""
        mine = [(value, headers) for _, value, key, headers in self.sent if key == camera.encode()]
        built = read_windows(value for value, _ in mine)
        return [(w, dict(headers)) for w, (_, headers) in zip(built, mine, strict=True)]
