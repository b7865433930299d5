"""The Celery application and its settings (broker and result backend from the environment)."""

from __future__ import annotations

import os

from celery import Celery

__all__ = ["app", "BROKER_URL", "RESULT_BACKEND"]

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", BROKER_URL)

app = Celery(
    "celery_tasks",
    broker=BROKER_URL,
    backend=RESULT_BACKEND,
    include=["celery_tasks.browser", "celery_tasks.tasks"],
)
app.conf.update(
    # Task messages are JSON: the worker never unpickles what a client sends.
    task_serializer="json",
    accept_content=["json"],
    # Results are pickled: PDFs and PNGs travel as bytes, and a task's error reaches the
    # caller as itself (syncdp's errors pickle with their fields: a NavigationError keeps
    # ``url`` and ``error_text``). With JSON results Celery rebuilds errors from their
    # message only and hands the caller a plain Exception. The client unpickles what the
    # result backend holds: use a backend only your own workers write to.
    result_serializer="pickle",
    result_accept_content=["pickle"],
    result_expires=3600,
    # A pool process launches its browser at worker_process_init, before it reports up;
    # Celery's default 4 s for that is short for a browser launch on a busy machine.
    worker_proc_alive_timeout=60.0,
    # One task at a time per pool slot: a task waiting in a process's prefetch buffer does
    # not render, and long renders would otherwise queue behind each other.
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
