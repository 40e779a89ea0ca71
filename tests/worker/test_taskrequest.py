"""The request factory of task requests."""

from pyramid.config import Configurator
from pyramid.request import Request

from pyramid_tasks.context import public_environ
from pyramid_tasks.worker.taskrequest import TaskRequestFactory


def test_a_request_factory_function_gets_the_extensions_per_request():
    made = []

    def factory(environ):
        made.append(environ["PATH_INFO"])
        return Request(environ)

    config = Configurator(settings={"celery.broker_url": "memory://"})
    config.include("pyramid_tasks")
    config.set_request_factory(factory)
    config.add_request_method(lambda r: "db", "db", reify=True)
    config.commit()
    request = config.registry.celery_app.task_request_factory()
    assert request.db == "db"
    assert request.registry is config.registry
    assert made == ["/"]


def test_a_request_class_is_extended_once_for_every_task():
    config = Configurator(settings={"celery.broker_url": "memory://"})
    config.include("pyramid_tasks")
    config.add_request_method(lambda r: "db", "db", reify=True)
    config.commit()
    make = config.registry.celery_app.task_request_factory
    one, two = make(), make({"HTTP_HOST": "example.com"})
    assert type(one) is type(two)
    assert issubclass(type(one), Request) and type(one) is not Request
    assert one.db == "db" and two.host == "example.com"
    assert one.environ["wsgi.input"] is not two.environ["wsgi.input"]


def test_an_app_without_request_extensions_uses_its_factory_as_is():
    config = Configurator(settings={"celery.broker_url": "memory://"})
    config.commit()
    make = TaskRequestFactory(config.registry, public_environ(None))
    assert type(make()) is Request
