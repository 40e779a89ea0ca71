"""``ptasks``: list, inspect and run the tasks of a Pyramid application.

Like ``proutes``, it bootstraps the application from its ini file once
and reads what the configuration registered from the introspector::

    ptasks development.ini                 # the registered tasks
    ptasks development.ini --schedule      # periodic tasks, next runs
    ptasks development.ini --config        # effective Celery settings
    ptasks development.ini call add 1 2    # run a task here and now
    ptasks development.ini call --defer add 1 2   # queue it
    ptasks development.ini dev             # web, worker and beat
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
import copy
from datetime import datetime, timedelta
import json
import os
import re
import sys
import textwrap
from typing import Any

from celery.schedules import crontab, maybe_schedule
from celery.schedules import schedule as interval
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url
from pyramid.scripts.common import parse_vars

__all__ = ["main", "PTasksCommand"]

_COMMANDS = ("call", "dev")

#: Setting names holding secrets, masked by ``--config``.
_SECRET = re.compile(
    r"password|passwd|secret|token|credential|signature|key", re.I
)
#: Setting names that match ``_SECRET`` but hold no secret.
_NOT_SECRET = re.compile(r"routing_key|keyprefix|key_prefix", re.I)
_MASK = "********"

_DAYS = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


class CommandError(Exception):
    """A user error: one line on stderr and a non-zero exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def main(
    argv: Sequence[str] | None = None,
    quiet: bool = False,
    bootstrap: Callable | None = None,
) -> int:
    """Run ``ptasks``; return the exit code.

    :param argv: the arguments, without the program name (default:
        ``sys.argv[1:]``).
    :param quiet: print nothing (for tests).
    :param bootstrap: replaces :func:`pyramid.paster.bootstrap`.
    """
    command = PTasksCommand(
        list(sys.argv[1:] if argv is None else argv), quiet, bootstrap
    )
    return command.run()


class PTasksCommand:
    """The ``ptasks`` command line, in the style of ``proutes``."""

    description = (
        "List the tasks of a Pyramid application, show its periodic tasks "
        "and Celery configuration, run a task, or start the development "
        "processes."
    )
    epilog = textwrap.dedent(
        """\
        commands:
          ptasks CONFIG [key=value ...] call [--defer] [--kwargs JSON]
                 NAME [ARG ...]
              Run a task in this process with a task request and print its
              result as JSON; each ARG is a JSON value. --defer queues it
              and prints the task id instead.
          ptasks CONFIG [key=value ...] dev [--no-web] [--no-worker]
                 [--no-beat] [--worker-args ARGS]
              Start pserve, a Celery worker and beat, restart them when
              the code or the ini file changes, stop them on Ctrl-C.
        """
    )

    def __init__(
        self,
        argv: list[str],
        quiet: bool = False,
        bootstrap: Callable | None = None,
    ) -> None:
        self.argv = argv
        self.quiet = quiet
        self.bootstrap = bootstrap

    def out(self, text: str = "") -> None:
        if not self.quiet:
            print(text)

    def err(self, text: str) -> None:
        if not self.quiet:
            print(f"ptasks: error: {text}", file=sys.stderr)

    def run(self) -> int:
        try:
            return self._run()
        except CommandError as exc:
            self.err(str(exc))
            return exc.code
        except SystemExit as exc:  # argparse: --help or a usage error
            return exc.code if isinstance(exc.code, int) else 2

    def _run(self) -> int:
        top, command, rest = _split(self.argv)
        args = self._parser().parse_args(top)
        if command and (args.schedule or args.config):
            raise CommandError(
                f"--schedule and --config cannot be used with {command}"
            )
        path = args.config_uri.partition("#")[0]
        if not os.path.isfile(path):
            raise CommandError(f"Ini file not found: {path}")
        try:
            options = parse_vars(args.config_vars)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if command == "dev":
            return self._dev(args, rest)
        call = self._call_parser().parse_args(rest) if command else None
        env = self._load(args.config_uri, options)
        try:
            app = env["registry"].__dict__.get("celery_app")
            if app is None:
                raise CommandError(
                    f"{args.config_uri} does not configure pyramid_tasks: "
                    "add 'pyramid.includes = pyramid_tasks' or "
                    "config.include",
                    1,
                )
            if call is not None:
                return self._call(env, app, call)
            if args.schedule:
                return self._show_schedule(env["registry"], app, args.next)
            if args.config:
                return self._show_config(app)
            return self._show_tasks(env["registry"], app)
        finally:
            env["closer"]()

    def _parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="ptasks",
            description=self.description,
            epilog=self.epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        show = parser.add_mutually_exclusive_group()
        show.add_argument(
            "--schedule",
            action="store_true",
            help="show the periodic tasks with their next run times",
        )
        show.add_argument(
            "--config",
            action="store_true",
            help="show the effective Celery configuration, secrets masked",
        )
        parser.add_argument(
            "-n",
            "--next",
            type=int,
            default=3,
            metavar="N",
            help="how many next run times --schedule shows (default: 3)",
        )
        parser.add_argument(
            "config_uri",
            metavar="CONFIG",
            help="the ini file of the application (file.ini or file.ini#app)",
        )
        parser.add_argument(
            "config_vars",
            nargs="*",
            default=(),
            metavar="key=value",
            help="variables substituted into the ini file",
        )
        return parser

    def _call_parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog="ptasks CONFIG call",
            description="Run a registered task and print its result.",
        )
        parser.add_argument("name", metavar="NAME", help="the task name")
        parser.add_argument(
            "args",
            nargs="*",
            metavar="ARG",
            help='a JSON value: 1, 2.5, true, "text", [1, 2], {"a": 1}',
        )
        parser.add_argument(
            "--kwargs", metavar="JSON", help="keyword arguments, an object"
        )
        parser.add_argument(
            "--defer",
            action="store_true",
            help="queue the task for a worker and print its id",
        )
        return parser

    def _load(self, config_uri: str, options: dict[str, str]) -> dict:
        from pyramid import paster

        bootstrap = self.bootstrap or paster.bootstrap
        try:
            paster.setup_logging(config_uri, global_conf=options)
            return bootstrap(config_uri, options=options)
        except Exception as exc:
            raise CommandError(
                f"Cannot load {config_uri}: {type(exc).__name__}: {exc}", 1
            ) from None

    # -- the task table ---------------------------------------------------

    def _show_tasks(self, registry, app) -> int:
        introspector = registry.introspector
        used_by: dict[str, list[str]] = {}
        for item in introspector.get_category("periodic tasks", ()):
            intr = item["introspectable"]
            used_by.setdefault(intr.get("task_name"), []).append(intr.title)
        rows = []
        for item in introspector.get_category("tasks", ()):
            intr = item["introspectable"]
            task = intr.get("task")
            options = dict(intr["options"])
            options.pop("queue", None)
            if intr["base"].__name__ != "PyramidTask":
                options["base"] = intr["base"]
            rows.append(
                (
                    intr["name"],
                    _callable_name(intr["func"]),
                    _queue_of(app, task) if task is not None else "-",
                    _format_options(options) or "-",
                    ", ".join(getattr(task, "derivers", ())) or "-",
                    ", ".join(sorted(used_by.get(intr["name"], ()))) or "-",
                )
            )
        if not rows:
            self.out("No tasks are registered.")
            return 0
        header = ("Name", "Function", "Queue", "Options", "Derivers")
        header += ("Schedules",)
        self._table(header, sorted(rows))
        return 0

    def _table(self, header: tuple[str, ...], rows: list[tuple]) -> None:
        widths = [
            max(len(str(row[i])) for row in [header, *rows])
            for i in range(len(header))
        ]

        def line(cells) -> str:
            return "  ".join(
                str(cell).ljust(width)
                for cell, width in zip(cells, widths, strict=True)
            ).rstrip()

        self.out(line(header))
        self.out(line("-" * width for width in widths))
        for row in rows:
            self.out(line(row))

    # -- --schedule -------------------------------------------------------

    def _show_schedule(self, registry, app, count: int) -> int:
        items = registry.introspector.get_category("periodic tasks", ())
        if not items:
            self.out("No periodic tasks are registered.")
            return 0
        zone = str(app.timezone)
        if not app.conf.timezone:
            zone += " (celery.timezone is not set)"
        for n, item in enumerate(sorted(items, key=_title)):
            intr = item["introspectable"]
            schedule = _bound(intr["schedule"], app)
            runs = _next_runs(schedule, app, count)
            if n:
                self.out()
            self.out(intr["name"])
            self.out(f"  task:      {intr.get('task_name') or '-'}")
            self.out(f"  schedule:  {describe_schedule(intr['schedule'])}")
            self.out(f"  timezone:  {zone}")
            call = _json_dumps(list(intr["args"]))
            if intr["kwargs"]:
                call += f" {_json_dumps(intr['kwargs'])}"
            self.out(f"  arguments: {call}")
            if intr["options"]:
                self.out(f"  options:   {_format_options(intr['options'])}")
            label = "  next runs:"
            for run in runs or ["-"]:
                self.out(f"{label} {run}")
                label = " " * len(label)
        return 0

    # -- --config ---------------------------------------------------------

    def _show_config(self, app) -> int:
        self.out("# Celery settings that differ from Celery's defaults")
        keys = set(app.conf.changes) - {"deprecated_settings"}
        if app.conf.beat_schedule:
            # Periodic tasks fill the default dict in place.
            keys.add("beat_schedule")
        for key in sorted(keys):
            value = app.conf[key]
            if key == "beat_schedule":
                count = f"{len(value)} entr{'y' if len(value) == 1 else 'ies'}"
                shown = f"<{count}, see ptasks --schedule>"
            else:
                shown = _display(mask_setting(key, value))
            self.out(f"{key} = {shown}")
        return 0

    # -- call -------------------------------------------------------------

    def _call(self, env, app, call) -> int:
        from .exceptions import DeferError, UnknownTaskError
        from .tasks import lookup_task

        try:
            task = lookup_task(app, call.name)
        except UnknownTaskError as exc:
            raise CommandError(str(exc)) from None
        args = [
            _parse_json(text, f"argument {n}")
            for n, text in enumerate(call.args, 1)
        ]
        kwargs = _parse_json(call.kwargs or "{}", "--kwargs")
        if not isinstance(kwargs, dict):
            raise CommandError("--kwargs must be a JSON object")
        if call.defer:
            try:
                result = env["request"].defer_task_with_options(
                    task.name, args, kwargs, after_commit=False
                )
            except Exception as exc:
                # Bad arguments are the caller's; anything else (the
                # broker is down) is a failure to queue.
                if isinstance(exc, DeferError) and not isinstance(
                    exc, OperationalError
                ):
                    raise CommandError(str(exc)) from None
                raise CommandError(
                    f"Cannot queue {task.name}: {type(exc).__name__}: {exc}",
                    1,
                ) from None
            self.out(result.id)
            return 0
        try:
            task.__header__(*args, **kwargs)
        except TypeError as exc:
            raise CommandError(
                f"Task {task.name!r} cannot take these arguments: {exc}"
            ) from None
        result = task.apply(args, kwargs)
        if result.failed():
            # Celery has logged the traceback already.
            raise CommandError(
                f"Task {task.name} failed: {type(result.result).__name__}: "
                f"{result.result}",
                1,
            )
        self.out(_json_dumps(result.result))
        return 0

    # -- dev --------------------------------------------------------------

    def _dev(self, args, rest: list[str]) -> int:
        from . import devrunner

        parser = argparse.ArgumentParser(
            prog="ptasks CONFIG dev",
            description=(
                "Start the web server, a worker and beat for development; "
                "restart them when the code or the ini file changes."
            ),
        )
        for name in devrunner.PROCESSES:
            parser.add_argument(
                f"--no-{name}",
                dest=name,
                action="store_false",
                help=f"do not start the {name} process",
            )
        parser.add_argument(
            "--worker-args",
            default="",
            metavar="ARGS",
            help='more options for celery worker, e.g. "--pool solo"',
        )
        parser.add_argument(
            "--reload-interval",
            type=float,
            default=1.0,
            metavar="SECONDS",
            help="how often files are checked for changes (default: 1)",
        )
        dev = parser.parse_args(rest)
        return devrunner.run(
            args.config_uri,
            args.config_vars,
            web=dev.web,
            worker=dev.worker,
            beat=dev.beat,
            worker_args=dev.worker_args,
            reload_interval=dev.reload_interval,
        )


def _split(argv: list[str]) -> tuple[list[str], str | None, list[str]]:
    """Split ``argv`` at the command word (``call`` or ``dev``)."""
    for index, word in enumerate(argv):
        if index and word in _COMMANDS:
            return argv[:index], word, argv[index + 1 :]
    return argv, None, []


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(
            f"{what} {text!r} is not valid JSON ({exc}); quote strings "
            """as '"text"'"""
        ) from None


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=repr, ensure_ascii=False)


def _title(item: dict) -> str:
    return item["introspectable"].title


def _callable_name(func: Any) -> str:
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or repr(func)
    return f"{module}:{name}" if module else name


def _queue_of(app, task) -> str:
    queue = getattr(task, "queue", None)
    options = {"queue": queue} if queue else {}
    queue = app.amqp.router.route(options, task.name)["queue"]
    return getattr(queue, "name", None) or str(queue)


def _format_options(options: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}={_format_value(value)}"
        for key, value in sorted(options.items())
    )


def _format_value(value: Any) -> str:
    if isinstance(value, type) or callable(value):
        return getattr(value, "__qualname__", None) or repr(value)
    if isinstance(value, tuple | list):
        return f"({', '.join(_format_value(v) for v in value)})"
    if isinstance(value, str):
        return value
    return _json_dumps(value)


def mask_setting(key: str, value: Any) -> Any:
    """Return a Celery setting with its secrets masked.

    Passwords in URLs are replaced, and so is the whole value of a
    setting whose name suggests a secret (``password``, ``secret``,
    ``token``, ``key``...), at any depth of a dict setting.
    """
    if isinstance(value, dict):
        return {k: mask_setting(f"{key}.{k}", v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_setting(key, v) for v in value)
    name = key.rpartition(".")[2]
    if _SECRET.search(name) and not _NOT_SECRET.search(name):
        return _MASK if value not in (None, "", False) else value
    if isinstance(value, str) and "://" in value:
        return ";".join(maybe_sanitize_url(url) for url in value.split(";"))
    return value


def _display(value: Any) -> str:
    return value if isinstance(value, str) else _json_dumps(value)


# -- schedules in words ------------------------------------------------------


def describe_schedule(schedule: Any) -> str:
    """Describe a periodic task schedule in words.

    ``crontab(minute=30, hour=7, day_of_week="1-5")`` gives
    ``at 07:30 on Monday to Friday (cron 30 7 * * 1-5)``.
    """
    if isinstance(schedule, int | float):
        return _every(timedelta(seconds=schedule))
    if isinstance(schedule, timedelta):
        return _every(schedule)
    if isinstance(schedule, crontab):
        return _describe_crontab(schedule)
    if isinstance(schedule, interval):
        return _every(schedule.run_every)
    event = getattr(schedule, "event", None)
    if event is not None:
        where = f"latitude {schedule.lat}, longitude {schedule.lon}"
        return f"at {event.replace('_', ' ')} ({where})"
    return repr(schedule)


def _every(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    if seconds == 1:
        return "every second"
    return f"every {seconds:g} seconds"


def _describe_crontab(cron: crontab) -> str:
    minute = str(cron._orig_minute)
    hour = str(cron._orig_hour)
    dom = str(cron._orig_day_of_month)
    month = str(cron._orig_month_of_year)
    dow = str(cron._orig_day_of_week)
    numbers = re.compile(r"^\d+(,\d+)*$")
    if numbers.match(minute) and numbers.match(hour):
        times = [
            f"{int(h):02d}:{int(m):02d}"
            for h in hour.split(",")
            for m in minute.split(",")
        ]
        phrase = f"at {', '.join(times)}"
    elif minute == "*" and hour == "*":
        phrase = "every minute"
    elif minute.startswith("*/") and hour == "*":
        phrase = f"every {minute[2:]} minutes"
    elif numbers.match(minute) and hour == "*":
        phrase = f"every hour at minute {minute}"
    elif numbers.match(minute) and hour.startswith("*/"):
        phrase = f"every {hour[2:]} hours at minute {minute}"
    else:
        phrase = f"at minute {minute} of hour {hour}"
    if dow != "*":
        phrase += f" on {_names(dow, _DAYS, 0)}"
    if dom != "*":
        phrase += f" on day {dom} of the month"
    if month != "*":
        phrase += f" in {_names(month, _MONTHS, 1)}"
    return f"{phrase} (cron {minute} {hour} {dom} {month} {dow})"


def _names(spec: str, names: list[str], first: int) -> str:
    """Name the numbers of a cron field: ``1-5`` gives Monday to Friday."""

    def name(token: str) -> str:
        if token.isdigit() and 0 <= int(token) - first < len(names):
            return names[int(token) - first]
        return token

    parts = []
    for item in spec.split(","):
        low, dash, high = item.partition("-")
        parts.append(f"{name(low)} to {name(high)}" if dash else name(item))
    return ", ".join(parts)


def _bound(schedule: Any, app) -> Any:
    """A copy of ``schedule`` using ``app`` for its clock and timezone."""
    if not isinstance(schedule, int | float | timedelta):
        schedule = copy.copy(schedule)
    return maybe_schedule(schedule, app=app)


def _next_runs(schedule: Any, app, count: int) -> list[str]:
    """The next ``count`` run times of a schedule, from now."""
    runs: list[datetime] = []
    last = app.now()
    try:
        for _ in range(count):
            if isinstance(schedule, crontab):
                start, delta, _now = schedule.remaining_delta(last)
                upcoming = start + delta
            else:
                upcoming = schedule.now() + schedule.remaining_estimate(last)
            runs.append(upcoming)
            last = upcoming
    except Exception as exc:  # noqa: BLE001 - a custom schedule class
        return [f"unknown ({type(exc).__name__}: {exc})"]
    zone = app.timezone
    return [
        run.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") for run in runs
    ]
