"""The peer's worker: ``celery -A peer_worker worker``, in its venv.

pyramid-tasks 0.4's ``--ini`` preload option is written for Celery 4's
argparse and fails on Celery 5's click command line, so this module does
what the peer's preload handler (``pyramid_tasks.celery``) does: make the
global Celery app, then load the ini's app, which configures it.
"""

import os

from celery import Celery
from pyramid.paster import get_app

import pyramid_tasks

app = Celery(autofinalize=False)
pyramid_tasks.set_global_app(app)
get_app(os.environ["BENCH_PEER_INI"])
