"""The ``celery.*`` settings conversion, where pyramid-tasks 0.4 had it.

The code lives in :mod:`pyramid_tasks.config.settings`; this module keeps
``from pyramid_tasks.settings import extract_celery_settings`` working.
"""

from .config.settings import (
    PREFIX,
    UnknownCelerySetting,
    extract_celery_settings,
)

__all__ = ["PREFIX", "UnknownCelerySetting", "extract_celery_settings"]
