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

from collections.abc import Callable
from typing import Any

from celery.utils.time import get_exponential_backoff_interval
from pyramid_tm import create_tm

from .config.derivers import TaskDeriverInfo
from .config.settings import coerce_setting

try:
    from pyramid_retry import IRetryableError
except ImportError:  # pragma: no cover - pyramid_retry is optional
    IRetryableError = None

__all__ = ["includeme", "transaction_task_deriver"]

RETRIES_SETTING = "pyramid_tasks.transaction.retries"
BACKOFF_SETTING = "pyramid_tasks.transaction.backoff"
#: The longest wait between two retries, in seconds (Celery's default
#: ``retry_backoff_max``).
MAX_BACKOFF = 600


def transaction_task_deriver(
    task: Callable[..., Any], info: TaskDeriverInfo
) -> Callable[..., Any]:
    """Wrap ``task`` so it runs inside ``request.tm``."""
    if not info.options.get("transaction", True):
        return task
    retries = _number(info, int, "transaction_retries", RETRIES_SETTING, 3)
    backoff = _number(info, float, "transaction_backoff", BACKOFF_SETTING, 0.5)

    def transaction_task(request: Any, *args: Any, **kwargs: Any) -> Any:
        environ = request.environ
        if environ.get("tm.active"):
            return task(request, *args, **kwargs)
        manager = create_tm(request)
        environ["tm.active"] = True
        environ["tm.manager"] = manager
        try:
            transaction = manager.begin()
            try:
                result = task(request, *args, **kwargs)
                if manager.isDoomed():
                    manager.abort()
                else:
                    manager.commit()
                return result
            except Exception as exc:
                retryable = _is_retryable(transaction, exc)
                manager.abort()
                if not retryable:
                    raise
                retry_error = exc
        finally:
            del environ["tm.active"], environ["tm.manager"]
        # Outside the transaction: the retry is sent at once.
        celery_task = request.current_task
        if celery_task.request.called_directly:
            raise retry_error
        countdown = get_exponential_backoff_interval(
            backoff, celery_task.request.retries, MAX_BACKOFF
        )
        raise celery_task.retry(
            exc=retry_error, countdown=countdown, max_retries=retries
        ) from retry_error

    return transaction_task


def _number(
    info: TaskDeriverInfo, kind: type, option: str, setting: str, default: Any
) -> Any:
    """Read a task option, else the app setting, as ``kind`` (>= 0)."""
    if option in info.options:
        value, source = info.options[option], f"Task option {option}"
    else:
        value = (info.settings or {}).get(setting, default)
        source = f"Setting {setting!r}"
    return coerce_setting(
        value, kind, source, minimum=0, context=f" (task {info.name!r})"
    )


def _is_retryable(transaction: Any, exc: Exception) -> bool:
    # The data managers joined to the transaction know their own
    # retryable errors (pyramid_tm asks them the same way), and
    # pyramid_retry marks others.
    if IRetryableError is not None and IRetryableError.providedBy(exc):
        return True
    return bool(transaction.isRetryableError(exc))


def includeme(config: Any) -> None:
    """Add the ``transaction`` task deriver."""
    config.add_task_deriver(transaction_task_deriver, name="transaction")
