"""The Tasks panel, in the real pyramid_debugtoolbar, through WebTest."""

import html
import re

from celery import group
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
import pytest
from webtest import TestApp

from pyramid_tasks.debugtoolbar.panel import describe_arguments
from pyramid_tasks.testing import memory_settings

from services import free_port

LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


def login(request, user, password, token=None):
    return user


def add(request, *numbers, **options):
    return sum(numbers)


def defer_view(request):
    request.defer_task(login, "ann", "s3cret", token="tok")
    if "held" in request.params:
        return {"ok": True}
    request.defer_task_with_options(
        add, args=(1, 2), after_commit=False, countdown=5
    )
    request.defer_task("add", "see redis://:pw@db:6379/0 " + "x" * 300)
    request.defer_task(group(request.task_signature(add, 3)))
    request.defer_task(add, 4, api_key="k", mode="fast").cancel()
    if "fail" in request.params:
        raise RuntimeError("the view failed")
    return {"ok": True}


def setup(config):
    config.include("pyramid_tm")
    config.register_task(login)
    config.register_task(add, name="add")
    config.add_route("defer", "/defer")
    config.add_view(defer_view, route_name="defer", renderer="json")
    config.add_route("nothing", "/nothing")
    config.add_view(lambda request: {}, route_name="nothing", renderer="json")


def toolbar_app(how="includes", **settings):
    all_settings = memory_settings(**{"debugtoolbar.hosts": "127.0.0.1"})
    if how == "includes":
        all_settings["debugtoolbar.includes"] = "pyramid_tasks.debugtoolbar"
    all_settings.update(settings)
    config = Configurator(settings=all_settings)
    config.include("pyramid_tasks")
    if how == "include":
        config.include("pyramid_tasks.debugtoolbar")
    config.include("pyramid_debugtoolbar")
    setup(config)
    return TestApp(config.make_wsgi_app(), extra_environ=LOCAL)


def panel(web):
    """The Tasks panel of the last request, as text rows."""
    page = web.get("/_debug_toolbar/").text
    nav = re.search(r'id="pDebugPanel-pyramid_tasks".*?</li>', page, re.S)
    start = page.index('id="pDebugPanel-pyramid_tasks-content"')
    content = page[start : page.index("</table>", start)]
    rows = [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row]
        for row in (
            re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
            for tr in re.findall(r"<tr>(.*?)</tr>", content, re.S)
        )
        if row
    ]
    return nav.group(0), rows


@pytest.mark.parametrize("how", ["includes", "include"])
def test_the_panel_lists_each_task_with_secrets_masked(how):
    web = toolbar_app(how)
    web.get("/defer")
    nav, rows = panel(web)
    assert re.search(r">\s*5\s*<", nav), nav
    names = [row[0] for row in rows]
    assert names[0].endswith("test_panel.login")
    assert names[1:] == ["add"] * 4
    login_row, now_row, long_row, group_row, cancelled_row = rows
    assert login_row[2] == "user='ann', password='********', token='********'"
    assert login_row[4:6] == ["yes", "sent"]
    assert login_row[6].endswith(" ms")
    assert now_row[2] == "1, 2"
    assert "'countdown': 5" in now_row[3]
    assert now_row[4:6] == ["no", "sent"]
    assert "redis://:**@db:6379/0" in long_row[2]
    assert "pw@" not in long_row[2]
    assert len(long_row[2]) < 200
    assert group_row[2] == "3"
    assert cancelled_row[2] == "4, api_key='********', mode='fast'"
    assert cancelled_row[5] == "dropped"
    assert cancelled_row[6] == "-"


def test_tasks_of_an_aborted_request_are_dropped():
    web = toolbar_app()
    # The toolbar shows the error page.
    web.get("/defer?fail=1", status=500)
    nav, rows = panel(web)
    assert [row[5] for row in rows] == [
        "dropped",
        "sent",
        "dropped",
        "dropped",
        "dropped",
    ]


def test_a_task_that_failed_to_publish_shows_the_error():
    web = toolbar_app(
        **{
            "celery.broker_url": f"redis://:pw@127.0.0.1:{free_port()}/0",
            "celery.task_publish_retry_policy": '{"max_retries": 0}',
        }
    )
    web.get("/defer?held=1")
    nav, rows = panel(web)
    (row,) = rows
    assert row[5].startswith("failed")
    assert "Connection refused" in row[5]
    assert row[6] == "-"
    assert ":pw@" not in str(rows)


def test_a_request_that_defers_nothing_says_so():
    web = toolbar_app()
    web.get("/nothing")
    page = web.get("/_debug_toolbar/").text
    assert "No task was deferred during this request." in page


def test_the_panel_needs_the_toolbar():
    config = Configurator(settings=memory_settings())
    config.include("pyramid_tasks")
    config.include("pyramid_tasks.debugtoolbar")
    with pytest.raises(ConfigurationError, match="include pyramid_debugtool"):
        config.commit()


def test_arguments_that_do_not_fit_are_shown_unnamed():
    class Task:
        original_func = staticmethod(login)

    assert describe_arguments(Task(), (1, 2, 3, 4, 5), {"key": "k"}) == (
        "1, 2, 3, 4, 5, key='********'"
    )


def test_requests_the_toolbar_does_not_watch_are_left_alone():
    from services import in_transaction, make_request

    web = toolbar_app()
    registry = web.app.registry
    request = make_request(registry)
    with in_transaction(request):
        handle = request.defer_task("add", 1)
    assert handle.delivery == "sent"
    assert "pyramid_tasks.debugtoolbar.records" not in request.environ
