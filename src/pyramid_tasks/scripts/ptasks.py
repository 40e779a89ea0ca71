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
import json
import os
import sys
import textwrap
from typing import Any

from kombu.exceptions import OperationalError
from pyramid import paster
from pyramid.scripts.common import parse_vars

from ..exceptions import DeferError, UnknownTaskError
from ..interfaces import ICeleryApp
from ..web.checks import check_arguments
from . import devrunner
from .loaderror import load_error_message
from .reports import config_report, json_dumps, schedule_report, task_table

__all__ = ["PTasksCommand", "main"]

_COMMANDS = ("call", "dev", "relay", "outbox")


class CommandError(Exception):
    """A user error: one line on stderr and a non-zero exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def main(
    argv: Sequence[str] | None = None,
    quiet: bool = False,
    bootstrap: Callable[..., Any] | None = None,
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
                 [--no-beat] [--no-relay] [--worker-args ARGS]
              Start pserve, a Celery worker, beat and the outbox relay,
              restart them when the code or the ini file changes, stop
              them on Ctrl-C.
          ptasks CONFIG relay [--batch N] [--interval SECONDS] [--once]
              Send the outbox's rows to the broker until SIGTERM.
          ptasks CONFIG outbox create|status|retry [ID ...]
              Create the outbox tables, show the backlog and the dead
              rows, put dead rows back.
        """
    )

    def __init__(
        self,
        argv: list[str],
        quiet: bool = False,
        bootstrap: Callable[..., Any] | None = None,
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
        call = None
        if command == "call":
            call = self._call_parser().parse_args(rest)
        env = self._load(args.config_uri, options)
        try:
            app = env["registry"].queryUtility(ICeleryApp)
            if app is None:
                raise CommandError(
                    f"{args.config_uri} does not configure pyramid_tasks: "
                    "add 'pyramid.includes = pyramid_tasks' or "
                    "config.include",
                    1,
                )
            if call is not None:
                return self._call(env, app, call)
            if command is not None:
                return self._outbox(command, env["registry"], rest)
            return self._report(env["registry"], app, args)
        finally:
            env["closer"]()

    def _report(
        self, registry: Any, app: Any, args: argparse.Namespace
    ) -> int:
        if args.schedule:
            lines = schedule_report(registry, app, args.next)
        elif args.config:
            lines = config_report(app)
        else:
            lines = task_table(registry, app)
        for line in lines:
            self.out(line)
        return 0

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

    def _load(self, config_uri: str, options: dict[str, str]) -> Any:
        bootstrap = self.bootstrap or paster.bootstrap
        try:
            paster.setup_logging(config_uri, global_conf=options)
            return bootstrap(config_uri, options=options)
        except Exception as exc:
            raise CommandError(
                load_error_message(config_uri, exc), 1
            ) from None

    # -- call -------------------------------------------------------------

    def _call(self, env: Any, app: Any, call: argparse.Namespace) -> int:
        try:
            task = app.lookup_task(call.name)
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
            check_arguments(task, tuple(args), kwargs)
        except DeferError as exc:
            raise CommandError(str(exc)) from None
        result = task.apply(args, kwargs)
        if result.failed():
            # Celery has logged the traceback already.
            raise CommandError(
                f"Task {task.name} failed: {type(result.result).__name__}: "
                f"{result.result}",
                1,
            )
        self.out(json_dumps(result.result))
        return 0

    # -- relay, outbox -----------------------------------------------------

    def _outbox(self, command: str, registry: Any, rest: list[str]) -> int:
        # SQLAlchemy, which the outbox needs, is an optional dependency.
        from ..outbox.commands import (
            CommandFailed,
            outbox_command,
            relay_command,
        )

        run = relay_command if command == "relay" else outbox_command
        try:
            return run(registry, rest, self.out)
        except CommandFailed as exc:
            raise CommandError(str(exc), exc.code) from None

    # -- dev --------------------------------------------------------------

    def _dev(self, args: argparse.Namespace, rest: list[str]) -> int:
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
            relay=dev.relay,
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


if __name__ == "__main__":  # pragma: no cover - python -m, as ptasks dev runs
    sys.exit(main())
