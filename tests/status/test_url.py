"""request.task_status_url: which URL, for which handle."""

from pyramid.exceptions import ConfigurationError
import pytest

from pyramid_tasks.interfaces import ITaskStatusTokens

from .conftest import make_status_app


def _tokens(app):
    return app.tasks.registry.getUtility(ITaskStatusTokens)


def test_the_url_is_absolute_and_names_the_task(status_app):
    request = status_app.tasks.make_request()
    url = request.task_status_url("abc")
    token = _tokens(status_app).sign("abc")
    assert url == f"http://localhost/_tasks/status/abc/{token}"


def test_a_plain_id_never_shows_the_result(status_app):
    request = status_app.tasks.make_request()
    handle = request.defer_task("gated")
    assert handle.task_name == "gated"
    token = request.task_status_url(handle.id).rsplit("/", 1)[1]
    assert _tokens(status_app).verify(handle.id, token) is False
    token = request.task_status_url(handle).rsplit("/", 1)[1]
    assert _tokens(status_app).verify(handle.id, token) is True


def test_a_task_that_ignores_its_results_cannot_be_watched(status_app):
    request = status_app.tasks.make_request()
    handle = request.defer_task("quiet")
    with pytest.raises(ValueError, match="'quiet' ignores its results"):
        request.task_status_url(handle)


def test_a_group_is_watched_task_by_task(status_app):
    request = status_app.tasks.make_request()
    group = request.map_task("fail", ["a", "b"])
    with pytest.raises(TypeError, match="group.results"):
        request.task_status_url(group)
    assert all(request.task_status_url(h) for h in group.results)


def one(request):
    return 1


@pytest.mark.parametrize(("value", "shown"), [("yes", True), ("0", False)])
def test_the_status_result_option_is_read_strictly(value, shown):
    def register(config):
        config.register_task(one, name="one", status_result=value)
        config.register_task(one, name="bad", status_result="hm")

    app = make_status_app(register)
    request = app.tasks.make_request()
    handle = request.defer_task("one")
    token = request.task_status_url(handle).rsplit("/", 1)[1]
    assert _tokens(app).verify(handle.id, token) is shown
    with pytest.raises(ConfigurationError, match="status_result = 'hm'"):
        request.task_status_url(request.defer_task("bad"))
