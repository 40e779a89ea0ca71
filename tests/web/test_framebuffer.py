"""The frame buffer: RabbitMQ's after-commit batch in one socket write."""

from kombu.exceptions import OperationalError
import pytest

from pyramid_tasks.web.framebuffer import FrameBuffer
from pyramid_tasks.web.states import FAILED, SENT

from .test_publisher import failing_for, listening
from services import settled_queued


class DummyTransport:
    """py-amqp's TCP transport: ``_write`` is the socket's ``sendall``."""

    def __init__(self, fail=False):
        self.written = []
        self.fail = fail
        self.connected = True
        self._write = self.sendall

    def sendall(self, data):
        if self.fail:
            raise OSError("connection reset")
        self.written.append(data)

    def read_frame(self):
        return ("frame", list(self.written))


class DummySSLTransport:
    """py-amqp's SSL transport: ``_write`` is a method of the class."""

    def __init__(self):
        self.written = []

    def _write(self, data):
        self.written.append(data)


def test_frames_written_in_the_block_go_out_in_one_write():
    transport = DummyTransport()
    with FrameBuffer(transport):
        transport._write(b"a")
        transport._write(b"b")
        assert transport.written == []
    assert transport.written == [b"ab"]
    assert transport._write == transport.sendall
    assert "read_frame" not in vars(transport)


def test_what_passes_the_size_limit_is_written_at_once():
    transport = DummyTransport()
    with FrameBuffer(transport, max_bytes=3):
        transport._write(b"ab")
        assert transport.written == []
        transport._write(memoryview(b"cd"))
        assert transport.written == [b"abcd"]
        transport._write(b"e")
    assert transport.written == [b"abcd", b"e"]


def test_a_read_in_the_block_first_writes_what_is_held():
    transport = DummyTransport()
    with FrameBuffer(transport) as buffer:
        transport._write(b"declare")
        assert transport.read_frame() == ("frame", [b"declare"])
        assert buffer.reuse() is buffer
    assert transport.written == [b"declare"]


def test_a_class_write_method_is_restored():
    transport = DummySSLTransport()
    with FrameBuffer(transport):
        transport._write(b"x")
    assert "_write" not in vars(transport)
    assert transport.written == [b"x"]


def test_a_failed_write_marks_the_connection_closed():
    transport = DummyTransport(fail=True)
    with pytest.raises(OSError, match="reset"):
        with FrameBuffer(transport):
            transport._write(b"x")
    assert transport.connected is False


def test_frames_are_dropped_when_the_block_raises():
    transport = DummyTransport()
    with pytest.raises(ValueError):
        with FrameBuffer(transport):
            transport._write(b"x")
            raise ValueError
    assert transport.written == []


def test_a_batch_is_one_write_per_100_tasks_on_rabbitmq(web, monkeypatch):
    flushes = []
    real_flush = FrameBuffer.flush

    def counting_flush(self):
        flushes.append(len(self.held))
        return real_flush(self)

    monkeypatch.setattr(FrameBuffer, "flush", counting_flush)
    # Celery's rpc:// backend reads from the connection at each publish,
    # which sends what is held each time; results elsewhere let the
    # buffer hold a hundred messages.
    testapp, app = web.build(
        broker="amqp", **{"celery.result_backend": "cache+memory://"}
    )
    testapp.get("/defer?count=250")
    assert [h.delivery for h in web.handles] == [SENT] * 250
    assert settled_queued(app, 250) == 250
    # The declarations go first, each to wait for its reply; then one
    # write per 100 tasks.
    *declarations, a, b, c = [n for n in flushes if n]
    assert (a, b, c) == (100, 100, 50)
    assert set(declarations) == {1}
    with app.connection() as conn:
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        ids = [queue.get(timeout=1).headers["id"] for _ in range(250)]
    assert sorted(ids) == sorted(h.id for h in web.handles)


def test_a_failed_write_is_sent_again_one_task_at_a_time(web, monkeypatch):
    real_flush = FrameBuffer.flush

    def failing_flush(self):
        # The queue's declaration goes through, the batch's write fails.
        if len(self.held) < 3:
            return real_flush(self)
        self.held.clear()
        raise OSError("connection reset")

    monkeypatch.setattr(FrameBuffer, "flush", failing_flush)
    testapp, app = web.build(broker="amqp")
    testapp.get("/defer?count=3")
    assert [h.delivery for h in web.handles] == [SENT] * 3
    assert settled_queued(app, 3) == 3


def test_a_broker_error_while_buffering_falls_back_and_is_reported(web):
    failures = []
    testapp, app = web.build(listening(failures), broker="amqp")
    calls = failing_for(app.tasks["noop"], None, OperationalError("down"))
    testapp.get("/defer?count=3")
    assert len(calls) == 2
    assert [h.delivery for h in web.handles] == [FAILED] * 3
