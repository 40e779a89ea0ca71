"""Imported first, to keep a third-party warning off every command.

Pyramid (2.0, 2.1) imports ``pkg_resources``, and setuptools 81, the
newest it allows (``setuptools<82``) and what a new virtualenv gets,
warns on that import: ``UserWarning: pkg_resources is deprecated as an
API``. Neither our users nor we can act on it, yet it would open the
output of every ``ptasks`` and ``celery -A pyramid_tasks`` command. Both
run :mod:`pyramid_tasks.scripts` before they import Pyramid, and it
imports this module first: ``pkg_resources`` is imported here, before
Pyramid does, with that one warning ignored. The warning is given only
when the module is first imported, and the filter is gone when this
module has run: every other warning, ours included, shows as before.
"""

import warnings

#: The start of setuptools' warning, as a ``filterwarnings`` message.
PKG_RESOURCES_DEPRECATED = "pkg_resources is deprecated as an API"

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", PKG_RESOURCES_DEPRECATED, UserWarning)
    try:
        import pkg_resources  # noqa: F401
    except ImportError:  # pragma: no cover - a Pyramid without it
        pass
