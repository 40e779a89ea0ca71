"""Configuration time: the directives and the actions they register.

Settings (:mod:`.settings`), the Celery app (:mod:`.celeryapp`), tasks
(:mod:`.tasks`) and their derivers (:mod:`.derivers`), periodic tasks
(:mod:`.periodic`) and those declared in the ini (:mod:`.schedules`), and
the request context (:mod:`.context`). Nothing here runs per request or
per task.
"""
