"""Import each given module alone, each in a fresh process: ``python -m tests.fresh_imports
accounts.models care_team.views ...`` (run by ``tests/test_imports.py``).

Each module is imported twice, each time in a child forked from this process, which has
imported nothing of the project (only Django and DRF modules that need no settings):

1. before ``django.setup()``: a module that needs the app registry stops at the first model
   (``AppRegistryNotReady``), which is expected; any other failure is not (an import cycle
   shows up as an ``ImportError`` of a "partially initialized module");
2. after ``django.setup()`` (run once in this process before forking: the child is what
   ``python -c "import django; django.setup(); import X"`` would be), as a command or a
   server imports it: it must import.

A failure is one JSON line on stdout: ``{"module", "phase", "error"}``. Children run as many
at a time as there are cores.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback

TIMEOUT_SECONDS = 60
# Imported once, before the children are forked (none reads the settings or imports anything
# of the project): each child would spend most of its time on them.
LIBRARIES = (
    "django.contrib.admin",
    "django.core.management.base",
    "django.db.models",
    "django.forms",
    "django.http",
    "rest_framework.exceptions",
    "rest_framework.serializers",
)


def _child(module: str, phase: str, out: int) -> None:
    """In the forked child: import ``module``; write the failure, if any, to ``out``."""
    from django.core.exceptions import AppRegistryNotReady

    signal.alarm(TIMEOUT_SECONDS)
    error = None
    try:
        importlib.import_module(module)
    except AppRegistryNotReady:
        if phase != "before setup":
            error = traceback.format_exc()
    except BaseException:
        error = traceback.format_exc()
    if error is not None:
        # Well under a pipe's buffer: the parent reads it once the child has exited.
        failure = {"module": module, "phase": phase, "error": error[-20_000:]}
        os.write(out, json.dumps(failure).encode())
    os.close(out)
    os._exit(0)


def import_each(modules: list[str], phase: str) -> list[dict]:
    failures: list[dict] = []
    running: dict[int, tuple[str, int]] = {}
    pending = list(modules)

    def reap() -> None:
        pid, status = os.wait()
        module, read = running.pop(pid)
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        if data:
            failures.append(json.loads(data))
        elif status != 0:
            failures.append({"module": module, "phase": phase, "error": f"exit status {status}"})

    while pending or running:
        if pending and len(running) < (os.cpu_count() or 1):
            module = pending.pop(0)
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                _child(module, phase, write)
            os.close(write)
            running[pid] = (module, read)
        else:
            reap()
    return failures


def main(modules: list[str]) -> int:
    import django

    for library in LIBRARIES:
        importlib.import_module(library)
    project = {module.split(".")[0] for module in modules}
    early = sorted(name for name in sys.modules if name.split(".")[0] in project)
    if early:
        raise RuntimeError(f"imported before the children: {early}")
    failures = import_each(modules, "before setup")
    try:
        django.setup()
    except BaseException:
        # What setup imports (settings, models, admins) fails to import from it.
        failures.append({"module": "-", "phase": "django.setup()", "error": traceback.format_exc()})
    else:
        failures += import_each(modules, "after setup")
    for failure in failures:
        print(json.dumps(failure))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
