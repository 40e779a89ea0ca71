"""An application for the testing kit's own tests.

Its tasks: ``send_email(user_id, subject)``, ``describe(items, when,
**extra)`` (what a task sees) and ``fail(n)``, wrapped by a tagging
deriver; its views: ``/signup?user_id=N[&fail=1]`` defers ``send_email``
after commit, ``/immediate`` at once, ``/broken`` defers ``fail``,
``/twice`` two tasks. ``app.log`` records what tasks and views did.
"""

from pyramid.threadlocal import get_current_request
import pytest

from pyramid_tasks.testing import make_tasks_app

from services import free_port

LOG = []


@pytest.fixture(autouse=True)
def _fresh_log():
    LOG.clear()


def send_email(request, user_id, subject="hello"):
    LOG.append(("send_email", user_id))
    return f"mail {subject} to {user_id}"


def describe(request, items, when, **extra):
    """What a task sees: its arguments after the round trip, its request."""
    request.add_finished_callback(lambda r: LOG.append("finished"))
    return {
        "items": items,
        "items_type": type(items).__name__,
        "when": when,
        "when_type": type(when).__name__,
        "extra": extra,
        "tagged": request.environ.get("test.tagged"),
        "derivers": request.current_task.derivers,
        "own_request": get_current_request() is request,
        "task_id": request.current_task.request.id,
        "url": request.application_url,
        "setting": request.registry.settings["app.name"],
    }


def fail(request, n):
    raise ValueError(f"failed with {n}")


def tagging_deriver(task, info):
    def tagged(request, *args, **kwargs):
        request.environ["test.tagged"] = info.name
        return task(request, *args, **kwargs)

    return tagged


def signup(request):
    user_id = int(request.params["user_id"])
    LOG.append(("view", id(request)))
    request.add_finished_callback(lambda r: LOG.append("view finished"))
    handle = request.defer_task("send_email", user_id=user_id)
    if "fail" in request.params:
        raise RuntimeError("the view failed")
    return {"id": handle.id}


def immediate(request):
    handle = request.defer_task_with_options(
        "send_email", kwargs={"user_id": 1}, after_commit=False, countdown=5
    )
    return {"id": handle.id}


def broken(request):
    request.defer_task("fail", 7)
    return {}


def setup(config):
    config.include("pyramid_tm")
    config.add_task_deriver(tagging_deriver)
    config.register_task(send_email, name="send_email")
    config.register_task(describe, name="describe")
    config.register_task(fail, name="fail")
    config.add_route("signup", "/signup")
    config.add_view(signup, route_name="signup", renderer="json")
    config.add_route("immediate", "/immediate")
    config.add_view(immediate, route_name="immediate", renderer="json")
    config.add_route("broken", "/broken")
    config.add_view(broken, route_name="broken", renderer="json")


def setup_kit(config):
    setup(config)
    config.add_route("twice", "/twice")
    config.add_view(twice, route_name="twice", renderer="json")


@pytest.fixture
def kit_setup():
    """The configuration of the kit's app."""
    return setup_kit


@pytest.fixture
def app():
    # A broker nobody listens on: capturing must never contact it.
    tasks_app = make_tasks_app(
        setup_kit,
        **{
            "app.name": "kit",
            "celery.broker_url": f"redis://127.0.0.1:{free_port()}/0",
            "celery.result_backend": "cache+memory://",
            "celery.broker_connection_retry": "false",
            "celery.task_publish_retry": "false",
        },
    )
    tasks_app.log = LOG
    return tasks_app


def twice(request):
    request.defer_task("send_email", 1)
    request.defer_task("send_email", 2)
    return {}
