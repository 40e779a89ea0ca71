"""Schedules in words and their next run times."""

from celery.schedules import schedule
import pytest

from pyramid_tasks.scripts.describe import (
    describe_schedule,
    next_runs,
)


def test_next_runs_of_a_schedule_that_cannot_tell_are_unknown():
    from celery import Celery

    class Broken(schedule):
        def remaining_estimate(self, last_run_at):
            raise RuntimeError("no idea")

    app = Celery(set_as_current=False)
    runs = next_runs(Broken(5, app=app), app, 3)
    assert runs == ["unknown (RuntimeError: no idea)"]


@pytest.mark.parametrize(
    "schedule, words",
    [
        (1, "every second"),
        (2.5, "every 2.5 seconds"),
        (60, "every minute"),
        (7200, "every 2 hours"),
        (86400, "every day"),
    ],
)
def test_intervals_are_described_in_the_largest_unit(schedule, words):
    assert describe_schedule(schedule) == words


@pytest.mark.parametrize(
    "fields, words",
    [
        ({}, "every minute"),
        ({"minute": "*/15"}, "every 15 minutes"),
        ({"minute": "5,35"}, "every hour at minute 5,35"),
        ({"minute": "0", "hour": "*/2"}, "every 2 hours at minute 0"),
        ({"minute": "0", "hour": "9,17"}, "at 09:00, 17:00"),
        ({"minute": "1-5", "hour": "3"}, "at minute 1-5 of hour 3"),
        (
            {"minute": 0, "hour": 0, "day_of_week": "sun,3"},
            "at 00:00 on sun, Wednesday",
        ),
        (
            {
                "minute": 0,
                "hour": 0,
                "day_of_month": "1",
                "month_of_year": "1-3",
            },
            "at 00:00 on day 1 of the month in January to March",
        ),
    ],
)
def test_crontabs_are_described_in_words(fields, words):
    from celery.schedules import crontab

    assert describe_schedule(crontab(**fields)).startswith(f"{words} (cron ")


def test_other_schedules_are_shown_as_they_are():
    from celery.schedules import schedule, solar

    assert describe_schedule(schedule(30)) == "every 30 seconds"
    assert describe_schedule(solar("dawn_civil", 1, 2)) == (
        "at dawn civil (latitude 1, longitude 2)"
    )
    assert describe_schedule("odd") == "'odd'"
