"""pyramid_tasks.metrics: outcome counters and run times."""

import pytest

from pyramid_tasks.metrics import get_task_metrics
from pyramid_tasks.testing import capture_tasks, make_tasks_app

from services import EventLog


def test_metrics_count_outcomes_and_time():
    setup = EventLog().setup()
    app = make_tasks_app(
        lambda config: (config.include("pyramid_tasks.metrics"), setup(config))
    )
    request = app.make_request()
    with capture_tasks(app.celery_app) as captured:
        request.defer_task("add", 1, 2)
        request.defer_task("add", 1, 3)
        request.defer_task("fail")
        request.defer_task("flaky")
        with pytest.raises(KeyError):
            captured.run_all()
    metrics = get_task_metrics(app.registry).snapshot()
    assert metrics["add"]["succeeded"] == 2
    assert metrics["add"]["runs"] == 2
    assert 0 < metrics["add"]["max_seconds"] <= metrics["add"]["seconds"]
    assert metrics["fail"]["failed"] == 1
    assert metrics["flaky"]["retried"] == 1
    assert metrics["flaky"]["succeeded"] == 1
    # A failure reported without a task request has no run time.
    metrics_object = get_task_metrics(app.registry)
    metrics_object.record("lost", "failed", None)
    assert metrics_object.snapshot()["lost"]["runs"] == 0


def test_two_apps_count_apart():
    one = make_tasks_app(
        lambda config: (
            config.include("pyramid_tasks.metrics"),
            EventLog().setup()(config),
        )
    )
    two = make_tasks_app(
        lambda config: (
            config.include("pyramid_tasks.metrics"),
            EventLog().setup()(config),
        )
    )
    with capture_tasks(one.celery_app) as captured:
        one.make_request().defer_task("add", 1, 2)
        captured.run_all()
    assert get_task_metrics(one.registry).snapshot()["add"]["succeeded"] == 1
    assert get_task_metrics(two.registry).snapshot() == {}
