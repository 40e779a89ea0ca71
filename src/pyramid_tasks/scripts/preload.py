"""``celery -A pyramid_tasks <command> --ini config.ini``.

``celery -A pyramid_tasks`` finds a bootstrap Celery app that only knows
the ``--ini`` and ``--ini-var`` options. When the command runs, the ini is
loaded the way ``pserve`` loads it and the command continues with the
Celery app of the Pyramid application it describes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import os
import sys
from typing import Any, cast

from celery import Celery, signals
import click
from pyramid import paster
from pyramid.scripts.common import parse_vars

from ..application import PyramidCelery
from ..interfaces import ICeleryApp
from ..redact import redact_urls
from .loaderror import load_error_message

__all__ = ["make_cli_app", "load_celery_app", "INI_ENVVAR"]

#: Environment variable naming the ini file, for launchers that cannot
#: add command-line options.
INI_ENVVAR = "PYRAMID_TASKS_INI"

_INI_OPTION = click.Option(
    ["--ini"],
    envvar=INI_ENVVAR,
    help=f"Paste ini file (file.ini or file.ini#app) [env: {INI_ENVVAR}]",
)
_INI_VAR_OPTION = click.Option(
    ["--ini-var"],
    multiple=True,
    help="key=value substituted into the ini file (repeatable)",
)


#: Our receiver of Celery's ``setup_logging`` signal.
_LOG_UID = "pyramid_tasks.log"


class IniError(click.ClickException):
    """The ini file could not give a Pyramid app with pyramid_tasks."""


def make_cli_app() -> Celery:
    """Return the bootstrap app ``celery -A pyramid_tasks`` starts with."""
    app = Celery("pyramid_tasks", set_as_current=False)
    app.user_options["preload"].update((_INI_OPTION, _INI_VAR_OPTION))
    app.pyramid_tasks_bootstrap = True
    signals.user_preload_options.connect(
        _on_preload, weak=False, dispatch_uid="pyramid_tasks.cli"
    )
    return app


def _on_preload(
    sender: Any = None, app: Any = None, options: Any = None, **kwargs: Any
) -> None:
    if not getattr(app, "pyramid_tasks_bootstrap", False):
        return
    ctx = click.get_current_context()
    try:
        if ctx.command.name == "multi":
            _check_multi_argv(sys.argv)
        ctx.obj.app = load_celery_app(
            options.get("ini"),
            options.get("ini_var") or (),
            # The preload options arrive with those of the command itself.
            logfile=ctx.params.get("logfile"),
        )
    except IniError as exc:
        # Celery's signals log and swallow exceptions; leave at once.
        exc.show()
        raise SystemExit(exc.exit_code) from None


def _check_multi_argv(argv: list[str]) -> None:
    # celery multi reads sys.argv itself, where it takes a word after a
    # space for a node name: it would start a node named "config.ini",
    # and give every node "--ini" without its file.
    for option in ("--ini", "--ini-var"):
        if option in argv:
            raise IniError(
                f"celery multi needs {option}=VALUE, with '=': it takes "
                f"the word after {option} for a node name"
            )


def load_celery_app(
    config_uri: str | None,
    ini_vars: Iterable[str] = (),
    get_app: Callable[..., Any] | None = None,
    logfile: str | None = None,
) -> PyramidCelery:
    """Load the Pyramid app of ``config_uri`` and return its Celery app.

    Logging is configured from the ini's logging sections first, as
    ``pserve`` does, and Celery leaves it so. When the command has a
    ``logfile`` (``--logfile``, which ``celery multi`` always gives its
    detached workers), Celery then sets up its own logging as usual: the
    root logger's handlers and level give way to one handler writing to
    that file at the command's ``--loglevel``; the levels and handlers
    the ini gives other loggers stay. A detached process has closed the
    console the ini's handlers would write to.

    The ini's loader is looked up once (plaster scans every installed
    distribution's entry points for it). ``get_app`` (the loader's
    ``get_wsgi_app`` by default) can be replaced by tests.

    :raises IniError: a one-line message for a missing or unusable ini.
    """
    if not config_uri:
        raise IniError(
            f"No ini file given: pass --ini config.ini or set {INI_ENVVAR}"
        )
    path = config_uri.partition("#")[0]
    if not os.path.isfile(path):
        raise IniError(f"Ini file not found: {path}")
    try:
        options = parse_vars(list(ini_vars))
    except ValueError as exc:
        raise IniError(f"Bad --ini-var: {redact_urls(exc)}") from None
    try:
        loader = paster.get_config_loader(config_uri)
        if "loggers" in loader.get_sections():
            loader.setup_logging(options)
            _keep_ini_logging(not logfile)
        if get_app is None:
            wsgi_app = loader.get_wsgi_app(defaults=options)
        else:
            wsgi_app = get_app(config_uri, options=options)
    except Exception as exc:
        raise IniError(load_error_message(config_uri, exc)) from exc
    registry = getattr(wsgi_app, "registry", None)
    celery_app = registry.queryUtility(ICeleryApp) if registry else None
    if celery_app is None:
        raise IniError(
            f"{config_uri} does not configure pyramid_tasks: add "
            "'pyramid.includes = pyramid_tasks' or config.include"
        )
    return cast(PyramidCelery, celery_app)


def _keep_ini_logging(keep: bool) -> None:
    # Celery leaves logging alone when anyone handles setup_logging.
    if keep:
        signals.setup_logging.connect(
            _ini_logging_is_set_up, weak=False, dispatch_uid=_LOG_UID
        )
    else:
        signals.setup_logging.disconnect(dispatch_uid=_LOG_UID)


def _ini_logging_is_set_up(**kwargs: Any) -> None:
    """Logging was configured from the ini file."""
