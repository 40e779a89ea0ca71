"""``celery -A celeryapp worker``: the app made by make_celery_app."""

import os

from pyramid.config import Configurator

from cliapp import greet

settings = {
    "greeting": "Module",
    "celery.broker_url": os.environ["TEST_BROKER_URL"],
    "celery.result_backend": os.environ["TEST_BROKER_URL"],
    "celery.task_default_queue": os.environ["TEST_QUEUE"],
    "celery.broker_transport_options.global_keyprefix": os.environ[
        "TEST_KEYPREFIX"
    ],
}
with Configurator(settings=settings) as config:
    config.include("pyramid_tasks")
    config.register_task(greet, name="greet")
app = config.make_celery_app()
