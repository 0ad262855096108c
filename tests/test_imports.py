"""No import cycle anywhere: every module of the project imports alone, in a fresh process,
before ``django.setup()`` (as far as it can without the app registry) and after it
(``tests/fresh_imports.py``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

PACKAGES = ("accounts", "audit", "bench", "care_team", "ecm_admin", "patients")


def project_modules() -> list[str]:
    root = Path(settings.BASE_DIR)
    modules = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__main__":
                continue  # running the package, not a module to import
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.append(".".join(parts))
    return modules


def test_the_list_has_every_app():
    modules = project_modules()
    assert {"accounts.views", "care_team.planning.planner", "ecm_admin.settings"} <= set(modules)
    assert "patients.migrations.0001_initial" in modules
    assert len(modules) > 150


def test_every_module_imports_alone_in_a_fresh_process():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecm_admin.test_settings"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.fresh_imports", *project_modules()],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    failures = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    report = "\n\n".join(f"{f['module']} ({f['phase']}):\n{f['error']}" for f in failures)
    assert result.returncode == 0 and not failures, report or result.stderr[-5000:]
