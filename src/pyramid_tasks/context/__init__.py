"""The request context a task takes from the request that deferred it.

A task request is built in the worker, far from the browser. What it
needs of the deferring request travels in the task message headers,
captured by ``request.defer_task`` and restored before the task runs,
and only what the application allowed:

- the URL context (scheme, host, port, script name), so ``route_url``
  gives the links the user saw (:mod:`.url`); without an originating
  request, the ``pyramid_tasks.public_url`` setting gives them;
- the built-in values named by ``pyramid_tasks.propagate``: the request
  id, the locale and the authenticated user id (:mod:`.builtins`);
- the values of ``config.add_task_context`` entries.

With ``pyramid_tasks.context_secret`` the carried context is signed with
HMAC-SHA256 and checked in the worker (:mod:`.signing`). Log records get
the task and request ids from :class:`TaskContextFilter`.
"""

from ..exceptions import TaskContextRejected
from .builtins import propagated_userid
from .carrier import CONTEXT_HEADER, SIGNATURE_HEADER, TaskContext
from .logfilter import TaskContextFilter, install_log_filter
from .url import public_environ

__all__ = [
    "CONTEXT_HEADER",
    "SIGNATURE_HEADER",
    "TaskContext",
    "TaskContextFilter",
    "TaskContextRejected",
    "install_log_filter",
    "propagated_userid",
    "public_environ",
]
