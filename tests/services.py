"""Local servers the tests talk to, and private names for each test run.

A server that does not answer makes its tests skip with the reason, or
fail when ``CI=true``: CI must never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
import socket
import time
import uuid

from kombu.exceptions import ChannelError
from pyramid.request import Request, apply_request_extensions
import pytest
import transaction

from pyramid_tasks.testing import worker_thread

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get(
    "TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"
)
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

BROKERS = ["memory", "redis", "amqp"]

_PORTS = {"redis": 6379, "rabbitmq": 5672, "postgres": 5432, "mariadb": 3306}


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str) -> None:
    """Skip (or fail under CI) when ``service`` does not answer."""
    port = _PORTS[service]
    if answers("127.0.0.1", port):
        return
    message = f"{service} is not answering on 127.0.0.1:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and CI needs it")
    pytest.skip(message)


def unique(prefix: str = "pt") -> str:
    """A name no other test or test run uses (queues, key prefixes, DBs)."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def broker_settings(kind: str) -> dict[str, str]:
    """``celery.*`` settings for a broker kind, private to this test."""
    queue = unique("q")
    settings = {"celery.task_default_queue": queue}
    if kind == "memory":
        settings["celery.broker_url"] = "memory://"
        settings["celery.result_backend"] = "cache+memory://"
        settings["celery.broker_transport_options.polling_interval"] = "0.05"
    elif kind == "redis":
        require("redis")
        settings["celery.broker_url"] = REDIS_URL
        settings["celery.result_backend"] = REDIS_URL
        settings["celery.broker_transport_options.global_keyprefix"] = (
            queue + ":"
        )
    elif kind == "amqp":
        require("rabbitmq")
        settings["celery.broker_url"] = AMQP_URL
        settings["celery.result_backend"] = "rpc://"
    else:  # pragma: no cover - a typo in a test
        raise ValueError(kind)
    return settings


def ini_logging(tag: str) -> str:
    """Ini logging sections whose lines start with ``tag``."""
    return f"""
[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = {tag} %(levelname)s %(message)s
"""


def make_request(registry, path: str = "/", **environ) -> Request:
    """A request as the router would make it, extensions applied."""
    request = Request.blank(path, environ)
    request.registry = registry
    apply_request_extensions(request)
    return request


def running_worker(celery_app, **kwargs):
    """A real embedded worker in a thread: the testing kit's own fixture."""
    return worker_thread(celery_app, **kwargs)


def queued(app) -> int:
    """How many messages wait in the app's private queue."""
    if app.conf.broker_url.startswith("redis"):
        # kombu's passive declare does not count a prefixed Redis queue.
        return redis_queued(app)
    queue = app.conf.task_default_queue
    with app.connection() as conn:
        try:
            return conn.default_channel.queue_declare(queue, passive=True)[1]
        except ChannelError:  # never declared: nothing was published
            return 0


def settled_queued(app, expected: int, timeout: float = 5.0) -> int:
    """``queued(app)`` once it reaches ``expected``, or at the timeout.

    Publishes are not confirmed, and RabbitMQ counts a queue for another
    connection: the last messages of a burst may not be counted yet.
    """
    deadline = time.monotonic() + timeout
    while (count := queued(app)) < expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return count


def redis_queued(app) -> int:
    """Messages in the app's private Redis queue (its keys are prefixed)."""
    import redis

    prefix = app.conf.broker_transport_options["global_keyprefix"]
    client = redis.Redis.from_url(app.conf.broker_url)
    try:
        return client.llen(prefix + app.conf.task_default_queue)
    finally:
        client.close()


def in_transaction(request, explicit: bool = False):
    """Make ``request`` managed by a transaction manager, as pyramid_tm
    does; return the manager (begin it, or use it as a context)."""
    manager = transaction.TransactionManager(explicit=explicit)
    request.environ.update({"tm.active": True, "tm.manager": manager})
    return manager


# -- an app whose lifecycle events are recorded -----------------------------


class EventLog:
    """The lifecycle events an app fired, and the retries ``flaky`` saw.

    ``EventLog.setup(events)`` configures the tasks ``add``, ``fail`` and
    ``flaky`` (retried once), a pyramid_tm view at ``/`` that defers
    ``add`` after commit and at once (``?fail=1`` aborts), and a
    subscriber recording each event of the given kinds.
    """

    def __init__(self) -> None:
        self.events: list = []
        self.attempts: list = []

    def of(self, kind) -> list:
        return [event for event in self.events if type(event) is kind]

    def record(self, event) -> None:
        task = getattr(event, "task", None)
        # Celery's task context only lives while the task runs.
        event.context_id = getattr(getattr(task, "request", None), "id", None)
        self.events.append(event)

    def setup(self, events=None):
        from pyramid_tasks import TaskRunEvent

        log = self

        def add(request, x, y):
            return x + y

        def fail(request):
            raise KeyError("missing")

        def flaky(request):
            log.attempts.append(request.current_task.request.retries)
            if len(log.attempts) < 2:
                raise request.current_task.retry(
                    exc=ValueError("again"), countdown=0, max_retries=3
                )
            return "ok"

        def view(request):
            handle = request.defer_task("add", 1, 2)
            request.defer_task_with_options("add", (3, 4), after_commit=False)
            if "fail" in request.params:
                raise RuntimeError("abort")
            return {"id": handle.id}

        def setup(config):
            config.include("pyramid_tm")
            config.register_task(add, name="add")
            config.register_task(fail, name="fail")
            config.register_task(flaky, name="flaky")
            config.add_route("home", "/")
            config.add_view(view, route_name="home", renderer="json")
            for event in events or (TaskRunEvent,):
                config.add_subscriber(self.record, event)

        return setup


# -- the request context, as the worker restores it ---------------------------


def noop(request):
    return None


def setup_routes(config):
    """A ``home`` route and a ``noop`` task."""
    config.add_route("home", "/home")
    config.register_task(noop, name="noop")


def defer_headers(celery_app, request, **options):
    """The headers and options ``request.defer_task(noop)`` would send."""
    context = celery_app.task_context
    if context.capturing:
        context.stamp(options, "noop", context.carry(request))
    return options.get("headers", {}), options


def open_task_request(celery_app, task_id, headers, task_name="noop"):
    """The task request a worker makes from these message headers."""
    from pyramid_tasks.context import CONTEXT_HEADER, SIGNATURE_HEADER

    context = celery_app.task_context
    carried = headers.get(CONTEXT_HEADER)
    environ = context.open(
        task_name,
        task_id,
        carried,
        headers.get("environ"),
        headers.get(SIGNATURE_HEADER),
    )
    request = celery_app.task_request_factory(environ)
    if carried:
        context.restore(request, carried)
    return request


def task_request_for(celery_app, request=None, task_id="tid", **options):
    """Capture from ``request`` and build the task request the worker would."""
    headers, options = (
        defer_headers(celery_app, request, **options)
        if request is not None
        else (options.get("headers", {}), options)
    )
    task_id = options.get("task_id", task_id)
    return open_task_request(celery_app, task_id, headers)


class HeaderPolicy:
    """Trusts the carried user id in tasks, the X-Test-User header else."""

    def identity(self, request):
        return self.authenticated_userid(request)

    def authenticated_userid(self, request):
        from pyramid_tasks.context import propagated_userid

        userid = propagated_userid(request)
        if userid is None:
            userid = request.headers.get("X-Test-User")
        return userid


def setup_secure(config):
    """``setup_routes`` with the :class:`HeaderPolicy`."""
    setup_routes(config)
    config.set_security_policy(HeaderPolicy())


#: Settings that sign the context with two secrets and carry the user.
SIGNED = {
    "pyramid_tasks.context_secret": "new-secret old-secret",
    "pyramid_tasks.propagate": "user_id",
}


# -- a real browser: Debian's Chromium, driven by Selenium --------------------

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Headless, and no connection of Chromium's own to anywhere (this
#: machine has no network but loopback, and refuses the others).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=820,640",
)


def require_browser() -> None:
    """Skip (or fail under CI) without Debian's chromium and its driver."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if not missing:
        return
    message = (
        f"{', '.join(missing)} missing "
        "(apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and CI needs it")
    pytest.skip(message)


@contextlib.contextmanager
def chromium(directory: Path):
    """A headless Chromium with its profile in ``directory``, quit after."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={directory / 'chromium'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# -- private databases ------------------------------------------------------

DATABASES = ["sqlite", "postgresql", "mariadb"]

MARIADB_URL = os.environ.get(
    "TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


@contextlib.contextmanager
def private_database(kind: str, directory: str):
    """A database of its own, dropped on exit; yields its SQLAlchemy URL.

    ``kind`` is ``sqlite`` (a file in ``directory``), ``postgresql`` or
    ``mariadb`` (a new database on the local server).
    """
    import sqlalchemy

    if kind == "sqlite":
        yield f"sqlite:///{os.path.join(directory, unique('db'))}.sqlite"
        return
    name = unique("db")
    if kind == "postgresql":
        require("postgres")
        server = sqlalchemy.make_url(POSTGRES_URL).set(
            drivername="postgresql+psycopg2"
        )
    else:
        require("mariadb")
        server = sqlalchemy.make_url(MARIADB_URL)
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    quote = '"' if kind == "postgresql" else "`"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}"
            )
        admin.dispose()


class Veto:
    """A data manager refusing to commit. Its sort key places it among
    the transaction's others: ``"!veto"`` before zope.sqlalchemy's (the
    database never commits), ``"~veto"`` after it (the database has
    committed when the vote fails)."""

    transaction_manager = None
    key = "!veto"

    def __init__(self, key: str | None = None) -> None:
        if key is not None:
            self.key = key

    def sortKey(self):  # noqa: N802 - the data manager API
        return self.key

    def tpc_begin(self, transaction):
        pass

    commit = tpc_begin

    def tpc_vote(self, transaction):
        raise RuntimeError("vetoed")

    def abort(self, transaction):
        pass

    tpc_abort = tpc_finish = abort
