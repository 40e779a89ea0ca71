"""The command line: ``celery -A pyramid_tasks ... --ini``, ``ptasks``.

The ``--ini`` preload option of Celery's commands (:mod:`.preload`), the
``ptasks`` command (:mod:`.ptasks`) with its reports (:mod:`.reports`,
:mod:`.describe`), and ``ptasks dev`` (:mod:`.devrunner`).
"""

# First: every command imports Pyramid, which imports pkg_resources;
# ``quiet`` does that before, without setuptools' deprecation warning.
from .. import quiet  # noqa: F401
