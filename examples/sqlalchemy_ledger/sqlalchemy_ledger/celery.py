"""``celery -A sqlalchemy_ledger worker``: Celery finds ``app`` here."""

from . import configure

app = configure().make_celery_app()
