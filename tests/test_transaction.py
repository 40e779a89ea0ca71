"""Tasks in transactions: pyramid_tasks.transaction with SQLAlchemy."""

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid_retry import mark_error_retryable
import pytest
from sqlalchemy import Column, Integer, String, create_engine, select
from sqlalchemy.orm import declarative_base, sessionmaker
import transaction
from transaction.interfaces import TransientError
import zope.sqlalchemy

from pyramid_tasks.transaction import transaction_task_deriver
from pyramid_tasks.web.states import SENT, WAITING

from services import broker_settings, make_request, running_worker

Base = declarative_base()


class Row(Base):
    __tablename__ = "rows"
    id = Column(Integer, primary_key=True)
    value = Column(String)


ATTEMPTS = []


def insert(request, value, fail=False):
    request.db.add(Row(value=value))
    request.db.flush()
    if fail:
        raise ValueError("rolled back")
    return value


def insert_then_defer(request, value, direct=False):
    request.db.add(Row(value=value))
    if direct:
        # Celery's own API, from inside a task: the same rule.
        handle = request.current_task.app.tasks["count_rows"].delay(value)
    else:
        handle = request.defer_task(count_rows, value)
    return handle.id, handle.delivery


def self_retrying(request, value):
    """Fails twice, asking Celery to retry while its transaction is
    active, then succeeds; returns how often it was retried."""
    ATTEMPTS.append(request.current_task.request.retries)
    request.db.add(Row(value=f"{value}-{len(ATTEMPTS)}"))
    if len(ATTEMPTS) < 3:
        raise request.current_task.retry(
            exc=ValueError("not yet"), countdown=0, max_retries=5
        )
    return request.current_task.request.retries


def autoretried(request, value):
    ATTEMPTS.append(request.current_task.request.retries)
    request.db.add(Row(value=f"{value}-{len(ATTEMPTS)}"))
    if len(ATTEMPTS) < 3:
        raise KeyError("not yet")
    return request.current_task.request.retries


def count_rows(request, value):
    return (
        request.db.scalar(select(Row.id).where(Row.value == value).limit(1))
        is not None
    )


def flaky(request, value):
    ATTEMPTS.append(request.current_task.request.retries)
    request.db.add(Row(value=value))
    if len(ATTEMPTS) < 3:
        raise TransientError("try again")
    return len(ATTEMPTS)


class Conflict(Exception):
    """An application error marked retryable the pyramid_retry way."""


mark_error_retryable(Conflict)


def marked(request):
    ATTEMPTS.append(1)
    if len(ATTEMPTS) < 2:
        raise Conflict("conflict")
    return "resolved"


def always_transient(request):
    ATTEMPTS.append(1)
    raise TransientError("never works")


def no_transaction(request):
    return request.environ.get("tm.active", False)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "tasks.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _session(factory, request):
    session = factory()
    zope.sqlalchemy.register(session, transaction_manager=request.tm)
    return session


@pytest.fixture(scope="module")
def worker(database):
    factory = sessionmaker(bind=database)

    def db(request):
        return _session(factory, request)

    settings = broker_settings("memory")
    settings["pyramid_tasks.transaction.backoff"] = "0.01"
    config = Configurator(settings=settings)
    config.include("pyramid_tasks")
    config.include("pyramid_tm")
    config.include("pyramid_tasks.transaction")
    config.add_request_method(db, "db", reify=True)
    config.register_task(insert, name="insert")
    config.register_task(insert_then_defer, name="insert_then_defer")
    config.register_task(count_rows, name="count_rows")
    config.register_task(flaky, name="flaky")
    config.register_task(marked, name="marked")
    config.register_task(self_retrying, name="self_retrying")
    config.register_task(
        autoretried,
        name="autoretried",
        autoretry_for=(KeyError,),
        retry_kwargs={"countdown": 0, "max_retries": 5},
    )
    config.register_task(
        always_transient, name="always", transaction_retries=1
    )
    config.register_task(
        no_transaction, name="no_transaction", transaction=False
    )
    app = config.make_celery_app()
    with running_worker(app):
        yield config, app


def rows(database, value):
    with database.connect() as conn:
        return conn.execute(
            select(Row.id).where(Row.value == value)
        ).fetchall()


def test_a_task_commits_on_success(worker, database):
    config, app = worker
    request = make_request(config.registry)
    assert request.defer_task(insert, "committed").get(timeout=10)
    assert len(rows(database, "committed")) == 1


def test_a_task_aborts_on_error(worker, database):
    config, app = worker
    request = make_request(config.registry)
    with pytest.raises(ValueError):
        request.defer_task(insert, "aborted", fail=True).get(timeout=10)
    assert rows(database, "aborted") == []


@pytest.mark.parametrize("direct", [False, True], ids=["defer_task", "delay"])
def test_tasks_deferred_in_a_task_are_sent_after_its_commit(worker, direct):
    config, app = worker
    request = make_request(config.registry)
    task_id, delivery = request.defer_task(
        insert_then_defer, f"parent-{direct}", direct=direct
    ).get(timeout=10)
    assert delivery == WAITING
    # The child saw the parent's row: it ran after the commit.
    assert request.get_task_result(task_id).get(timeout=10) is True


@pytest.mark.parametrize("task", ["self_retrying", "autoretried"])
def test_celerys_retries_are_sent_although_the_transaction_aborts(
    worker, database, task
):
    config, app = worker
    ATTEMPTS.clear()
    request = make_request(config.registry)
    assert request.defer_task(task, task).get(timeout=10) == 2
    assert ATTEMPTS == [0, 1, 2]
    # The two failed runs rolled back; only the last one's row is there.
    assert rows(database, f"{task}-1") == rows(database, f"{task}-2") == []
    assert len(rows(database, f"{task}-3")) == 1


def test_transient_errors_are_retried_with_celery_retry(worker, database):
    config, app = worker
    ATTEMPTS.clear()
    request = make_request(config.registry)
    assert request.defer_task(flaky, "flaky").get(timeout=10) == 3
    assert ATTEMPTS == [0, 1, 2]
    assert len(rows(database, "flaky")) == 1


def test_errors_marked_retryable_are_retried(worker):
    config, app = worker
    ATTEMPTS.clear()
    request = make_request(config.registry)
    assert request.defer_task("marked").get(timeout=10) == "resolved"
    assert len(ATTEMPTS) == 2


def test_retries_stop_after_the_configured_attempts(worker):
    config, app = worker
    ATTEMPTS.clear()
    request = make_request(config.registry)
    with pytest.raises(TransientError):
        request.defer_task("always").get(timeout=10)
    assert len(ATTEMPTS) == 2


def test_a_task_can_opt_out(worker):
    config, app = worker
    request = make_request(config.registry)
    assert request.defer_task("no_transaction").get(timeout=10) is False
    assert app.tasks["insert"].derivers == ["transaction"]
    assert app.tasks["no_transaction"].derivers == []


def test_an_active_transaction_is_not_nested(worker, database):
    config, app = worker
    request = make_request(config.registry)
    manager = transaction.TransactionManager(explicit=True)
    request.environ.update({"tm.active": True, "tm.manager": manager})
    request.tm = manager
    task = app.tasks["insert"]
    manager.begin()
    task.derived_func(request, "outer")
    # The task joined the outer transaction instead of committing its own.
    assert manager.get()._resources
    manager.abort()
    assert rows(database, "outer") == []


def test_the_pyramid_tasks_0_4_include_path_runs_tasks_in_transactions(
    database,
):
    factory = sessionmaker(bind=database)
    config = Configurator(settings=broker_settings("memory"))
    config.include("pyramid_tasks")
    config.include("pyramid_tm")
    config.include("pyramid_tasks.contrib.pyramid_tm")
    config.add_request_method(
        lambda request: _session(factory, request), "db", reify=True
    )
    config.register_task(insert, name="insert")
    task = config.make_celery_app().tasks["insert"]
    assert task.derivers == ["transaction"]
    assert task.apply(("contrib ok",)).get() == "contrib ok"
    assert task.apply(("contrib failed",), {"fail": True}).failed()
    assert len(rows(database, "contrib ok")) == 1
    assert rows(database, "contrib failed") == []


def test_handles_sent_outside_transactions_say_so(worker):
    config, app = worker
    request = make_request(config.registry)
    assert request.defer_task(count_rows, "x").delivery == SENT


def doomed(request, value):
    request.db.add(Row(value=value))
    request.tm.doom()
    return "doomed"


def test_a_doomed_transaction_is_aborted_not_committed(worker, database):
    config, app = worker
    task = app.tasks["insert"]
    request = make_request(config.registry)
    request.current_task = task
    run = transaction_task_deriver(doomed, task.deriver_info)
    assert run(request, "doomed") == "doomed"
    assert rows(database, "doomed") == []


def test_a_task_called_as_a_function_raises_a_transient_error_itself(
    worker, database
):
    config, app = worker
    ATTEMPTS.clear()
    # Called directly, there is no message to retry: the error comes back.
    with pytest.raises(TransientError, match="try again"):
        app.tasks["flaky"]("direct")
    assert ATTEMPTS == [0]
    assert rows(database, "direct") == []


def test_the_retry_waits_exponentially_longer(worker, monkeypatch):
    config, app = worker
    task = app.tasks["always"]
    countdowns = []

    def retry(**options):
        countdowns.append(options["countdown"])
        return RuntimeError("retry sent")

    monkeypatch.setattr(task, "retry", retry)
    for retries in range(3):
        request = make_request(config.registry)
        request.current_task = task
        task.push_request(retries=retries, called_directly=False)
        try:
            with pytest.raises(RuntimeError, match="retry sent"):
                task.derived_func(request)
        finally:
            task.pop_request()
    assert countdowns == [0.01, 0.02, 0.04]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"transaction_retries": "many"}, "Task option transaction_retries"),
        ({"transaction_backoff": -1}, "Task option transaction_backoff"),
    ],
)
def test_bad_retry_options_name_the_option_and_the_task(options, words):
    config = Configurator(settings=broker_settings("memory"))
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.transaction")
    config.register_task(insert, name="insert", **options)
    with pytest.raises(ConfigurationError) as info:
        config.commit()
    assert words in str(info.value) and "(task 'insert')" in str(info.value)
