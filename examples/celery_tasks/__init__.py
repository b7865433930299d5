"""Render PDFs and screenshots in Celery tasks: one headless browser per worker process.

A Celery worker runs tasks in pool processes (``--pool prefork``, the default) or in threads
of one process (``--pool threads``). Either way this example keeps **one browser per
process**, launched once and shared by every task of that process, each task in a tab of
its own (see :mod:`celery_tasks.browser` for where it is started and stopped):

* ``prefork``: each pool process launches its browser at ``worker_process_init`` (after the
  fork: threads and sockets do not survive ``fork``, so the master never starts one) and
  stops it at ``worker_process_shutdown``;
* ``threads`` (and ``solo``): the worker's one browser is launched by the first task and
  stopped at ``worker_shutdown``; its tabs serve the pool's threads concurrently.

A browser that dies (crash, OOM kill) fails the tasks using it with
``ConnectionClosedError``: they are retried (``autoretry_for``) and the retry relaunches it.
A worker killed outright leaves nothing behind either: syncdp's launcher watchdog kills the
browser and removes its profile when the process that launched it dies.

Run (Redis on 127.0.0.1:6379, or set ``CELERY_BROKER_URL``)::

    cd examples && celery -A celery_tasks worker --pool prefork --concurrency 2
    # elsewhere, with examples/ on sys.path:
    from celery_tasks.tasks import render_pdf
    pdf = render_pdf.delay(html="<title>Hi</title><h1>Hello</h1>").get(timeout=60)["data"]

Results (and errors) come back pickled: a task's ``NavigationError`` reaches the caller as a
``NavigationError`` with its ``url`` and ``error_text`` (see :mod:`celery_tasks.app`).
"""

from celery_tasks.app import app

__all__ = ["app"]
