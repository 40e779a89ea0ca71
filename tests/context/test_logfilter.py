"""Log records that name their task and request."""

from __future__ import annotations

import logging

from pyramid_tasks.context import (
    TaskContextFilter,
    install_log_filter,
)

from services import make_request, setup_routes, task_request_for

# -- Built-in values ---------------------------------------------------------


def test_log_records_carry_the_request_id_of_the_task(make_app):
    _, celery_app = make_app(
        setup_routes, **{"pyramid_tasks.propagate": "request_id"}
    )
    view = make_request(celery_app.registry, HTTP_X_REQUEST_ID="rid-3")
    request = task_request_for(celery_app, view)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    from pyramid.threadlocal import manager

    manager.push({"registry": celery_app.registry, "request": request})
    try:
        assert TaskContextFilter().filter(record) is True
    finally:
        manager.pop()

    assert record.request_id == "rid-3"
    assert record.task_name == "-"
    formatter = logging.Formatter("%(request_id)s %(message)s")
    assert formatter.format(record) == "rid-3 m"


def test_log_records_of_web_requests_carry_their_request_id(make_app):
    _, celery_app = make_app(
        setup_routes, **{"pyramid_tasks.request_id_header": "X-Trace"}
    )
    view = make_request(celery_app.registry, HTTP_X_TRACE="t-1")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    from pyramid.threadlocal import manager

    manager.push({"registry": celery_app.registry, "request": view})
    try:
        TaskContextFilter().filter(record)
    finally:
        manager.pop()

    assert record.request_id == "t-1"


def test_the_log_filter_keeps_values_given_as_extra():
    record = logging.makeLogRecord(
        {"request_id": "mine", "task_id": "t", "msg": "m"}
    )
    TaskContextFilter().filter(record)
    assert record.request_id == "mine"
    outside = logging.makeLogRecord({"msg": "m"})
    TaskContextFilter().filter(outside)
    assert (outside.request_id, outside.task_name, outside.task_id) == (
        "-",
        "-",
        "-",
    )


def test_the_worker_installs_the_log_filter_once_on_every_handler():
    handler = logging.NullHandler()
    logger = logging.getLogger("tests.context.installed")
    logger.addHandler(handler)
    try:
        install_log_filter()
        install_log_filter()
        assert [type(f) for f in handler.filters] == [TaskContextFilter]
    finally:
        logger.removeHandler(handler)
        for f in list(logging.getLogger().handlers):
            for flt in [
                x for x in f.filters if isinstance(x, TaskContextFilter)
            ]:
                f.removeFilter(flt)
