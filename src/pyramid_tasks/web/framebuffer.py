"""One socket write for many AMQP publishes.

py-amqp writes each published message's frames with a ``sendall`` of
their own, and RabbitMQ wakes up for each. After a commit, a batch of
messages goes out over one producer; a :class:`FrameBuffer` entered
around a part of it holds their frames and sends them in one write.
Each message is still published by Celery's ``apply_async`` and kombu's
``Producer.publish`` with the retry policy, so nothing about the
messages changes, only how their bytes reach the socket.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FrameBuffer"]


class FrameBuffer:
    """Holds the bytes py-amqp writes while entered, then writes them.

    A read that can wait, while entered (a queue declared for the first
    time waits for its reply, a publisher confirm for its ack), first
    writes what is held, so a synchronous method never waits for a
    request still in the buffer.

    It also writes what it holds once that passes ``max_bytes``, so a
    batch of large messages is not held whole in memory.

    :param transport: py-amqp's transport of the producer's connection.
    :param max_bytes: the most it holds before writing.
    """

    def __init__(self, transport: Any, max_bytes: int = 1 << 20) -> None:
        self.transport = transport
        self.max_bytes = max_bytes
        self.held: list[bytes] = []
        self._size = 0
        self._own_write = "_write" in vars(transport)
        self._write = transport._write

    @classmethod
    def of(cls, producer: Any) -> FrameBuffer | None:
        """The buffer for ``producer``'s connection, if it is py-amqp's."""
        connection = getattr(producer.channel, "connection", None)
        transport = getattr(connection, "transport", None)
        if transport is None or not hasattr(transport, "_write"):
            return None
        return cls(transport)

    def reuse(self) -> FrameBuffer:
        """This buffer, to enter again for the next part of a batch."""
        return self

    def __enter__(self) -> FrameBuffer:
        self.transport._write = self._hold
        self.transport.read_frame = self._read_frame
        return self

    def __exit__(self, *exc_info: object) -> None:
        transport = self.transport
        del transport.read_frame
        if self._own_write:
            transport._write = self._write
        else:
            del transport._write
        if exc_info[0] is None:
            self.flush()

    def _hold(self, data: Any) -> None:
        # py-amqp writes views of a buffer it reuses for the next frame.
        self.held.append(bytes(data))
        self._size += len(data)
        if self._size > self.max_bytes:
            self.flush()

    def _read_frame(self, *args: Any, **kwargs: Any) -> Any:
        # py-amqp polls the socket (timeout 0) before each publish for a
        # connection.blocked notice: no reply to a held request is
        # awaited then, so only a read that can wait sends what is held.
        sock = getattr(self.transport, "sock", None)
        if sock is None or sock.gettimeout() != 0:
            self.flush()
        return type(self.transport).read_frame(self.transport, *args, **kwargs)

    def flush(self) -> None:
        """Write what is held, in one call.

        :raises OSError: the socket failed; the connection is marked
            closed, as py-amqp marks it when its own write fails.
        """
        if not self.held:
            return
        data = b"".join(self.held)
        self.held.clear()
        self._size = 0
        try:
            self._write(data)
        except OSError:
            self.transport.connected = False
            raise
