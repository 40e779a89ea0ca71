"""``celery -A ticker beat`` and ``celery -A ticker worker``."""

from . import configure

app = configure().make_celery_app()
