"""The consumer side: what runs in a Celery worker.

The task class that calls every task function with a Pyramid request
(:mod:`.task`), the factory of those requests (:mod:`.taskrequest`), and
Celery's signals turned into Pyramid events (:mod:`.signals`).
"""
