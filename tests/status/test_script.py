"""progress.js in a real headless Chromium, against a real HTTP server.

The app runs in waitress in this process; the test sets each task's
state in the result backend, the way a worker stores it, and watches
what the script makes of it.
"""

from html import escape
import time

import pytest
from webtest.http import StopableWSGIServer

from .conftest import make_status_app
from services import chromium, unique

PAGE = """<!doctype html>
<html><head><script src="{script}"></script></head><body>
<div id="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"
     aria-valuenow="0" data-task-status="{url}" data-task-result="#result"
     data-task-poll-min="50" data-task-poll-max="400">
  <span data-task-text>Sent</span></div>
<output id="result"></output>
</body></html>"""


def watch_page(request):
    """A page with one progress bar bound to ``?url=``."""
    request.response.text = PAGE.format(
        script=request.static_path("pyramid_tasks:static/progress.js"),
        url=escape(request.params["url"]),
    )
    return request.response


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    def pages(config):
        config.add_route("watch", "/watch")
        config.add_view(watch_page, route_name="watch")

    app = make_status_app(pages)
    server = StopableWSGIServer.create(app.tasks.wsgi_app)
    try:
        with chromium(tmp_path_factory.mktemp("browser")) as driver:
            yield app, server.application_url.rstrip("/"), driver
    finally:
        server.shutdown()


def _open(served, task_id, token=None):
    app, base, driver = served
    url = app.tasks.make_request().task_status_url(task_id)
    url = url.replace("http://localhost", base)
    if token is not None:
        url = url.rsplit("/", 1)[0] + "/" + token
    driver.get(f"{base}/watch?url={url}")
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "bar"), driver


def _until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_known_total_moves_the_bar_and_an_unknown_one_hides_its_value(
    served,
):
    backend = served[0].tasks.celery_app.backend
    task_id = unique("script")
    meta = {"done": 3, "total": 12, "message": "three"}
    backend.store_result(task_id, meta, "PROGRESS")
    bar, driver = _open(served, task_id)
    _until(lambda: bar.get_attribute("aria-valuenow") == "25")
    assert bar.text == "25% \N{MIDDLE DOT} three"
    assert bar.get_attribute("aria-valuetext") == bar.text
    assert "25%" in bar.get_attribute("style")
    meta = {"done": 7, "total": None, "message": "counting"}
    backend.store_result(task_id, meta, "PROGRESS")
    _until(lambda: bar.get_attribute("aria-valuenow") is None)
    assert bar.text == "counting"
    backend.store_result(task_id, {"rows": 7}, "SUCCESS")
    _until(lambda: bar.get_attribute("data-task-state") == "success")
    assert bar.get_attribute("aria-valuenow") == "100"
    assert bar.text == "Done"
    # Not allowed to show it: the result element stays empty.
    assert driver.find_element("id", "result").text == ""


def test_a_failure_shows_its_message_and_polling_stops(served):
    backend = served[0].tasks.celery_app.backend
    task_id = unique("script")
    bar, driver = _open(served, task_id)
    _until(lambda: bar.text == "Waiting in the queue")
    assert bar.get_attribute("aria-valuenow") == "0"
    backend.mark_as_failure(task_id, ValueError("boom"))
    _until(lambda: bar.get_attribute("data-task-state") == "failure")
    assert bar.text == "ValueError: boom"
    polls = bar.get_attribute("data-task-polls")
    time.sleep(0.6)
    assert bar.get_attribute("data-task-polls") == polls


def test_a_bad_token_stops_at_unknown(served):
    bar, driver = _open(served, unique("script"), token="A" * 43)
    _until(lambda: bar.get_attribute("data-task-state") == "unknown")
    assert bar.text == "Unknown task"


def test_polling_backs_off_while_nothing_changes_and_not_after(served):
    backend = served[0].tasks.celery_app.backend
    task_id = unique("script")
    bar, driver = _open(served, task_id)
    time.sleep(1.6)
    # 50, 100, 200, 400, 400... ms: about 6 polls, not 32.
    quiet = int(bar.get_attribute("data-task-polls"))
    assert 3 <= quiet <= 9, quiet
    meta = {"done": 1, "total": 2, "message": None}
    backend.store_result(task_id, meta, "PROGRESS")
    _until(lambda: bar.get_attribute("aria-valuenow") == "50")
    seen = int(bar.get_attribute("data-task-polls"))
    time.sleep(0.3)
    # Back to 50 ms after a change: 50 + 100 ms fit in 0.3 s.
    assert int(bar.get_attribute("data-task-polls")) >= seen + 2


def test_the_result_goes_to_the_result_element_when_shown(served):
    app, base, driver = served
    backend = app.tasks.celery_app.backend
    request = app.tasks.make_request()
    handle = request.defer_task("gated")  # registered with status_result
    url = request.task_status_url(handle).replace("http://localhost", base)
    backend.store_result(handle.id, {"total": 42}, "SUCCESS")
    driver.get(f"{base}/watch?url={url}")
    result = driver.find_element("id", "result")
    _until(lambda: result.text == '{"total":42}')
    handle = request.defer_task("gated")
    url = request.task_status_url(handle).replace("http://localhost", base)
    backend.store_result(handle.id, "forty-two", "SUCCESS")
    driver.get(f"{base}/watch?url={url}")
    result = driver.find_element("id", "result")
    _until(lambda: result.text == "forty-two")
