"""config.include("pyramid_tasks.status"): settings, route, permission."""

from pyramid.exceptions import ConfigurationError
import pytest
from webtest import TestApp

from pyramid_tasks.status import ROUTE_NAME

from .conftest import make_status_app


def test_the_secret_is_required_and_named():
    with pytest.raises(ConfigurationError, match="'pyramid_tasks.status.sec"):
        make_status_app(**{"pyramid_tasks.status.secret": " "})


def test_the_route_setting_moves_the_view_and_its_script():
    app = make_status_app(**{"pyramid_tasks.status.route": "jobs/state/"})
    task_id, path = app.defer(task="gated")
    assert path.startswith(f"/jobs/state/{task_id}/")
    assert app.web.get(path).json["state"] == "queued"
    script = app.web.get("/jobs/state/static/progress.js")
    assert 'role="progressbar"' in script.text
    request = app.tasks.make_request()
    assert request.static_path("pyramid_tasks:static/progress.js") == (
        "/jobs/state/static/progress.js"
    )


def test_the_default_route_serves_the_script(status_app):
    response = status_app.web.get("/_tasks/status/static/progress.js")
    assert response.content_type in (
        "text/javascript",
        "application/javascript",
    )
    introspector = status_app.tasks.registry.introspector
    route = introspector.get("routes", ROUTE_NAME)
    assert route["pattern"].startswith("/_tasks/status/{task_id}/")


class Policy:
    """Lets in requests with an X-User header, with the 'watch' right."""

    def identity(self, request):
        return request.headers.get("X-User")

    def authenticated_userid(self, request):
        return self.identity(request)

    def permits(self, request, context, permission):
        from pyramid.security import Allowed, Denied

        if permission == "watch" and self.identity(request):
            return Allowed("has the header")
        return Denied("no header")


def test_the_permission_setting_protects_the_view_on_top_of_the_token():
    app = make_status_app(
        lambda config: config.set_security_policy(Policy()),
        **{"pyramid_tasks.status.permission": "watch"},
    )
    task_id, path = app.defer(task="gated")
    app.web.get(path, status=403)
    answer = app.web.get(path, headers={"X-User": "ann"})
    assert answer.json["state"] == "queued"


def test_several_secrets_rotate():
    old = make_status_app(**{"pyramid_tasks.status.secret": "old"})
    task_id, path = old.defer(task="gated")
    rotated = make_status_app(**{"pyramid_tasks.status.secret": "new old"})
    web = TestApp(rotated.tasks.wsgi_app)
    assert web.get(path).json["id"] == task_id
    new_path = rotated.tasks.make_request().task_status_url(task_id)
    assert new_path != "http://localhost" + path
    old.web.get(new_path.removeprefix("http://localhost"), status=404)
