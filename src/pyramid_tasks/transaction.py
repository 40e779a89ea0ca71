"""Run each task in a transaction.

``config.include("pyramid_tasks.transaction")`` adds the deriver.

Commit on success, abort on error. Transient errors (a
``transaction.interfaces.TransientError``, an error marked retryable the
way pyramid_retry marks them, or one a data manager such as
zope.sqlalchemy says to retry, e.g. a PostgreSQL serialization failure)
are retried through Celery's ``retry``, with exponential backoff, so the
worker is not blocked while waiting.

Per-task options: ``transaction=False`` opts a task out;
``transaction_retries`` and ``transaction_backoff`` override the settings
``pyramid_tasks.transaction.retries`` (default 3) and
``pyramid_tasks.transaction.backoff`` (seconds, default 0.5).
"""

from __future__ import annotations

from typing import Any

from pyramid.exceptions import ConfigurationError
from pyramid_tm import create_tm
from transaction.interfaces import TransientError

try:
    from pyramid_retry import IRetryableError
except ImportError:  # pragma: no cover - pyramid_retry is optional
    IRetryableError = None

__all__ = ["includeme", "transaction_task_deriver"]

RETRIES_SETTING = "pyramid_tasks.transaction.retries"
BACKOFF_SETTING = "pyramid_tasks.transaction.backoff"


def transaction_task_deriver(task, info):
    """Wrap ``task`` so it runs inside ``request.tm``."""
    if not info.options.get("transaction", True):
        return task
    settings = info.settings or {}
    retries = _number(
        info, int, "transaction_retries", RETRIES_SETTING, settings, 3
    )
    backoff = _number(
        info, float, "transaction_backoff", BACKOFF_SETTING, settings, 0.5
    )

    def transaction_task(request, *args: Any, **kwargs: Any) -> Any:
        environ = request.environ
        if environ.get("tm.active"):
            return task(request, *args, **kwargs)
        manager = create_tm(request)
        environ["tm.active"] = True
        environ["tm.manager"] = manager
        manager.begin()
        try:
            result = task(request, *args, **kwargs)
            if manager.isDoomed():
                manager.abort()
            else:
                manager.commit()
            return result
        except Exception as exc:
            retryable = _is_retryable(manager, exc)
            manager.abort()
            celery_task = request.current_task
            if retryable and not celery_task.request.called_directly:
                countdown = backoff * 2**celery_task.request.retries
                raise celery_task.retry(
                    exc=exc, countdown=countdown, max_retries=retries
                ) from exc
            raise
        finally:
            del environ["tm.active"], environ["tm.manager"]

    return transaction_task


def _number(info, kind: type, option: str, setting: str, settings, default):
    """Read a task option, else the app setting, as ``kind``."""
    if option in info.options:
        value, source = info.options[option], f"Task option {option}"
    else:
        value, source = settings.get(setting, default), f"Setting {setting!r}"
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise ConfigurationError(
            f"{source} = {value!r} (task {info.name!r}) is not a valid "
            f"{kind.__name__}: expected a number >= 0"
        )
    return number


def _is_retryable(manager, exc: Exception) -> bool:
    if isinstance(exc, TransientError):
        return True
    if IRetryableError is not None and IRetryableError.providedBy(exc):
        return True
    # The data managers joined to the transaction know their own
    # retryable errors; pyramid_tm asks them the same way. A thread-local
    # manager wraps the manager that can ask.
    inner = getattr(manager, "manager", manager)
    return bool(inner._retryable(type(exc), exc))


def includeme(config) -> None:
    """Add the ``transaction`` task deriver."""
    config.add_task_deriver(transaction_task_deriver, name="transaction")
