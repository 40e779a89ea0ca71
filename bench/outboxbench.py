"""The outbox against after-commit publishing (issue 13), on PostgreSQL.

Two apps with the same view (insert a row, defer one task, through
pyramid_tm): one publishes after the commit, one stores the task in the
outbox, which a relay sends. Measured: the view's latency, side by side;
commit-to-publish latency through the relay, woken by LISTEN/NOTIFY and
by polling (the default 1 s interval); the relay's throughput against
direct after-commit publishing; and the relay's throughput against its
batch size (a curve).
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid

from benchapp import NOOP
from curves import Curve
from sides import interleaved

PG_URL = os.environ.get(
    "BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
DIRECT = "after commit"
OUTBOX = "outbox"
RELAY = [1, 10, 100, 1000]


def _item_view(request):
    request.dbsession.execute(request.registry.items.insert().values(v="x"))
    return request.defer_task(NOOP).id


def _fill_view(request):
    for _ in range(int(request.params["count"])):
        request.defer_task(NOOP)
    return "ok"


def build(redis_url, queue, table, outbox):
    """``(WebTest app, Celery app, engine)`` of one side."""
    import benchapp
    from pyramid.config import Configurator
    import sqlalchemy as sa
    from sqlalchemy.orm import sessionmaker
    from webtest import TestApp
    import zope.sqlalchemy

    config = Configurator(
        settings={
            "celery.broker_url": f"{redis_url}/0",
            "celery.result_backend": "cache+memory://",
            "celery.task_default_queue": queue,
            "pyramid_tasks.outbox.table": table,
        }
    )
    config.include("pyramid_tm")
    config.include("pyramid_tasks")
    engine = sa.create_engine(PG_URL)
    factory = sessionmaker(bind=engine)

    def dbsession(request):
        session = factory()
        zope.sqlalchemy.register(session, transaction_manager=request.tm)
        return session

    config.add_request_method(dbsession, "dbsession", reify=True)
    if outbox:
        config.include("pyramid_tasks.outbox")
        config.set_task_outbox(lambda request: request.dbsession)
    config.register_task(benchapp.noop, name=NOOP, ignore_result=True)
    metadata = sa.MetaData()
    config.registry.items = sa.Table(
        f"{table}_items{'_o' if outbox else ''}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("v", sa.String(10)),
    )
    config.add_route("item", "/item")
    config.add_view(_item_view, route_name="item", renderer="string")
    config.add_route("fill", "/fill")
    config.add_view(_fill_view, route_name="fill", renderer="string")
    wsgi = config.make_wsgi_app()
    celery_app = config.registry.celery_app
    metadata.create_all(engine)
    if outbox:
        celery_app.outbox.tables.metadata.create_all(engine)
    return TestApp(wsgi), celery_app, engine, metadata


class OutboxBench:
    def __init__(self, params, redis_url, record):
        self.p = params
        self.redis_url = redis_url
        self.record = record
        self.table = "bench_outbox_" + uuid.uuid4().hex[:8]
        queue = "outbox-" + uuid.uuid4().hex[:8]
        self.sides = {
            DIRECT: build(redis_url, queue, self.table, False),
            OUTBOX: build(redis_url, queue, self.table, True),
        }
        self.results: dict = {}

    def relay(self, batch_size=100):
        from pyramid_tasks.outbox.relay import Relay, RelaySettings

        outbox = self.sides[OUTBOX][1].outbox
        return Relay(outbox, RelaySettings(batch_size=batch_size))

    def close(self):
        for _, app, engine, metadata in self.sides.values():
            metadata.drop_all(engine)
            if getattr(app, "outbox", None) is not None:
                app.outbox.tables.metadata.drop_all(engine)
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(app.conf.task_default_queue)
            engine.dispose()

    def view_latency(self):
        """ms per request of the same view, after-commit vs outbox."""
        calls = self.p["outbox_requests"]
        relay = self.relay()

        def measure(side, number):
            testapp = self.sides[side][0]
            t0 = time.perf_counter()
            for _ in range(calls):
                testapp.get("/item")
            elapsed = (time.perf_counter() - t0) * 1e3 / calls
            self.record(f"view deferring one task: ms ({side})", elapsed)
            if side == OUTBOX:
                relay.drain()

        for side in self.sides:  # connect, create the statements
            self.sides[side][0].get("/item")
        relay.drain()
        interleaved(self.p["outbox_rounds"], list(self.sides), measure)

    def commit_to_publish(self, notify):
        """Latencies (s) from the response to the relay's publish."""
        import pyramid_tasks.outbox.relay as relay_module
        from pyramid_tasks.outbox.waiting import Timer

        relay = self.relay()
        sent = {}
        on_sent = relay.publisher.on_sent

        def recording(app, row):
            sent[row.task_id] = time.perf_counter()
            on_sent(app, row)

        relay.publisher.on_sent = recording
        real_waiter = relay_module.waiter_for
        if not notify:
            relay_module.waiter_for = lambda outbox: Timer()
        stop = threading.Event()
        thread = threading.Thread(target=relay.run, args=(stop,))
        thread.start()
        try:
            time.sleep(0.2)  # the relay listens
            testapp = self.sides[OUTBOX][0]
            committed = {}
            for _ in range(self.p["latency_samples"]):
                task_id = testapp.get("/item").text
                committed[task_id] = time.perf_counter()
                time.sleep(random.uniform(0.0, 0.03))
            deadline = time.monotonic() + 10
            while len(sent) < len(committed) and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            thread.join()
            relay_module.waiter_for = real_waiter
        return sorted(sent[key] - at for key, at in committed.items())

    def latencies(self):
        for notify, label in ((True, "LISTEN/NOTIFY"), (False, "polling")):
            values = self.commit_to_publish(notify)
            cut = statistics.quantiles(values, n=100, method="inclusive")
            self.results[label] = {
                "p50_ms": statistics.median(values) * 1e3,
                "p99_ms": cut[98] * 1e3,
                "samples": len(values),
            }

    def fill(self, side, count):
        testapp = self.sides[side][0]
        for start in range(0, count, 100):
            testapp.get(f"/fill?count={min(100, count - start)}")

    def throughput(self):
        """Tasks/s: the relay draining stored rows, and direct publishes
        after commit (the same transactions of 100 tasks)."""
        count = self.p["relay_rows"]
        relay = self.relay()

        def measure(side, number):
            if side == OUTBOX:
                self.fill(OUTBOX, count)
                t0 = time.perf_counter()
                relay.drain()
            else:
                t0 = time.perf_counter()
                self.fill(DIRECT, count)
            rate = count / (time.perf_counter() - t0)
            self.record(f"{count} tasks: tasks/s ({side})", rate)

        interleaved(self.p["outbox_rounds"], list(self.sides), measure)

    def relay_curve(self):
        """Rows sent per second by a relay of each batch size."""
        curve = Curve(
            "relay",
            "Outbox relay throughput against its batch size",
            "rows per batch",
            "rows sent per second",
            "rises with the batch, then levels off where the publish "
            "dominates",
        )
        count = self.p["relay_rows"]
        for batch in RELAY:
            relay = self.relay(batch)
            for _ in range(self.p["curve_rounds"]):
                self.fill(OUTBOX, count)
                t0 = time.perf_counter()
                relay.drain()
                curve.add("relay (PostgreSQL, Redis)", batch,
                          count / (time.perf_counter() - t0))  # fmt: skip
        return curve
