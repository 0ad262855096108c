"""Reads under write load (bench/mixed.py, bench/mixed_report.py, bench/cpu.py): the verdicts,
the report section, the CPU accounting and the round-robin load. No database."""

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import cpu, driver, mixed, mixed_report
from bench.driver import Answer, Phase
from bench.workload import ReadRoute, Request


def _window(latencies, statuses=None, errors=()):
    phase = Phase(4, latencies_ms=list(latencies), errors=list(errors))
    phase.statuses = Counter(statuses or {200: len(latencies)})
    phase.wall_s = 1.0
    return phase.summary()


def test_a_route_passes_at_twice_its_idle_p95_and_fails_above_it():
    idle = _window([10.0] * 100)
    ratio, verdict = mixed_report.compare(idle, _window([20.0] * 100))
    assert (ratio, verdict) == (2.0, "PASS")
    ratio, verdict = mixed_report.compare(idle, _window([20.5] * 100))
    assert ratio == pytest.approx(2.05)
    assert verdict == "FAIL (p95 2.05x)"


def test_any_failed_request_in_either_window_fails_the_route():
    idle = _window([10.0] * 100, statuses={200: 100, 503: 1})
    loaded = _window([10.0] * 100, errors=["ConnectionResetError: reset"])
    assert mixed_report.failures(idle) == 1
    assert mixed_report.failures(loaded) == 1
    assert mixed_report.compare(idle, loaded) == (1.0, "FAIL (2 failed)")
    slow = _window([50.0] * 100, statuses={200: 100, 500: 2})
    assert mixed_report.compare(_window([10.0] * 100), slow)[1] == "FAIL (p95 5.00x, 2 failed)"


def test_a_window_without_any_answer_has_no_ratio_and_fails():
    nothing = _window([], statuses={500: 3})
    assert mixed_report.compare(_window([10.0]), nothing) == (None, "FAIL (no p95, 3 failed)")


def test_a_bulk_run_is_ok_only_with_200_and_no_failed_item():
    body = json.dumps({"successful_count": 1000, "failed_count": 0}).encode()
    assert mixed_report.bulk_run(Answer(200, 412.0, body, None)) == {
        "seconds": 0.412, "status": 200, "successful_count": 1000, "failed_count": 0, "ok": True,
    }  # fmt: skip
    partly = json.dumps({"successful_count": 990, "failed_count": 10}).encode()
    assert not mixed_report.bulk_run(Answer(200, 1.0, partly, None))["ok"]
    assert not mixed_report.bulk_run(Answer(503, 1.0, b'{"errors": ["busy"]}', None))["ok"]
    lost = mixed_report.bulk_run(Answer(None, 0.0, None, "TimeoutError: timed out"))
    assert lost == {"seconds": 0.0, "status": None, "error": "TimeoutError: timed out", "ok": False}


def test_overall_names_what_failed():
    passed = {"name": "list", "verdict": "PASS"}
    failed = {"name": "detail", "verdict": "FAIL (p95 2.50x)"}
    good_import, good_bulk = {"ok": True}, [{"ok": True}]
    assert mixed_report.overall([passed], good_import, good_bulk) == "PASS"
    assert mixed_report.overall([passed, failed], good_import, good_bulk) == "FAIL (detail)"
    assert mixed_report.overall([passed], {"ok": False}, []) == (
        "FAIL (import_members, bulk_assign)"
    )
    assert mixed_report.overall([], good_import, good_bulk) == "FAIL (no route)"


def _mixed_result():
    idle, loaded = _window([8.0, 9.0, 10.0] * 40), _window([12.0, 15.0, 30.0] * 40)
    ratio, verdict = mixed_report.compare(idle, loaded)
    window = {
        "seconds": 12.5,
        "requests": 120,
        "load_average": 0.7,
        "cpu": {
            "cores": 2,
            "busy_share": 0.95,
            "steal_share": 0.04,
            "by_group_cores": {"gunicorn": 0.8, "PostgreSQL (import)": 0.5, "other": 0.001},
        },
        "waits": {
            "samples": 50,
            "active": {"app: CPU": 30, "import: LWLock:WALWrite": 4},
            "lock_waits": {"app (transactionid): SELECT … FROM x": 2},
        },
    }
    return {
        "concurrency": 4,
        "limit": 2.0,
        "routes": [
            {
                "name": "list",
                "label": "GET /patients",
                "idle": idle,
                "loaded": loaded,
                "ratio": ratio,
                "verdict": verdict,
            }
        ],
        "windows": {"idle": {**window, "waits": {"samples": 0}}, "loaded": window},
        "import": {
            "rows": 100_000,
            "seconds": 31.25,
            "returncode": 0,
            "ok": True,
            "summary": "Imported members.csv: 100000 created",
            "cpu_s": 20.0,
        },
        "bulk": {
            "size": 1000,
            "runs": [{"seconds": s, "status": 200, "ok": True} for s in (0.5, 0.7, 1.5)],
        },
        "verdict": "FAIL (list)",
    }


def test_the_report_section_sets_idle_and_loaded_side_by_side():
    text = "\n".join(mixed_report.render_section(_mixed_result()))
    lines = text.splitlines()
    assert lines[0].startswith("## Reads during writes (c=4)")
    header = next(line for line in lines if line.startswith("| route"))
    assert header.split(" | ")[1:5] == ["idle p50", "idle p95", "loaded p50", "loaded p95"]
    row = next(line for line in lines if line.startswith("| list |"))
    assert row == "| list | 9.0 | 10.0 | 15.0 | 30.0 | 3.00x | 120/120 | 0/0 | FAIL (p95 3.00x) |"
    assert "import_members (100,000 new members): 31.2s, exit 0" in text
    assert "(its own process: 20.0 CPU seconds)" in text
    assert "3 requests, 3 ok (200, no failed item); 0.50 / 0.70 / 1.50s" in text
    assert "1.90 of 2 cores busy, steal 4%; gunicorn 0.80; PostgreSQL (import) 0.50" in text
    assert "other 0.00" not in text  # below a hundredth of a core: left out
    assert "idle: not sampled" in text
    assert "loaded: 50 samples: app: CPU 30, import: LWLock:WALWrite 4" in text
    assert "  - 2: `app (transactionid): SELECT … FROM x`" in lines
    assert lines[-1] == "Verdict: **FAIL (list)**"
    assert not any("Other work" in line for line in lines)


def test_other_work_on_the_machine_is_pointed_out():
    result = _mixed_result()
    loaded = result["windows"]["loaded"]
    loaded["cpu"] = {
        **loaded["cpu"],
        "by_group_cores": {"other processes": 0.9, "PostgreSQL (other databases)": 0.2},
    }
    text = "\n".join(mixed_report.render_section(result))
    assert "took 0.00 cores idle and 1.10 loaded: the ratios measure that too." in text


def test_few_samples_are_flagged():
    result = _mixed_result()
    result["routes"][0]["loaded"] = _window([10.0] * 5)
    text = "\n".join(mixed_report.render_section(result))
    row = next(line for line in text.splitlines() if "| list |" in line)
    assert "120/5 (few)" in row


def test_process_and_machine_times_are_parsed_from_proc():
    line = "4242 (gunicorn: worker (x)) S 1 4240 4240 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1"
    assert cpu.parse_process_stat(line) == cpu.ProcessTimes("gunicorn: worker (x)", 4240, 300)
    stat = "cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\n"
    assert cpu.parse_machine_stat(stat) == cpu.MachineTimes(160, 10, 990)
    share = cpu.machine_share(cpu.MachineTimes(0, 0, 0), cpu.MachineTimes(150, 10, 200))
    assert share == {"busy": 0.75, "steal": 0.05}
    assert cpu.machine_share(None, cpu.MachineTimes(1, 0, 2)) == {}


def test_cpu_seconds_are_grouped_and_new_or_reused_pids_count_from_zero():
    tick = cpu.CLOCK_TICKS
    first = {
        1: cpu.ProcessTimes("postgres", 1, 10 * tick),
        2: cpu.ProcessTimes("python", 2, 5 * tick),
        3: cpu.ProcessTimes("bash", 3, 100 * tick),  # its pid is reused below
    }
    last = {
        1: cpu.ProcessTimes("postgres", 1, 12 * tick),
        2: cpu.ProcessTimes("python", 2, 5 * tick),  # used nothing: left out
        3: cpu.ProcessTimes("python", 2, 1 * tick),
        4: cpu.ProcessTimes("postgres", 1, 3 * tick),  # started in the window
    }
    by_group = cpu.seconds_by_group(first, last, lambda pid, p: p.comm)
    assert by_group == {"postgres": 5.0, "python": 1.0}
    assert list(by_group) == ["postgres", "python"]


@pytest.fixture
def server():
    """A local server that answers 200 and notes each request's path."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(f"{self.command} {self.path}")
            body = b'{"successful_count": 2, "failed_count": 0}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer((driver.HOST, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], seen
    httpd.shutdown()
    httpd.server_close()


def test_the_routes_are_sent_round_robin_each_turning_through_its_variants(server):
    port, seen = server
    routes = [
        ReadRoute("list", "list", [Request("GET", "/a")]),
        ReadRoute("detail", "detail", [Request("GET", "/d1"), Request("GET", "/d2")]),
        ReadRoute("filter_sort", "filter", [Request("POST", "/f", {"x": 1})]),
    ]

    phases, _ = mixed.drive_mix(port, "token", routes, concurrency=1, per_route=4, max_seconds=30)

    assert {name: phase.ok for name, phase in phases.items()} == {
        "list": 4, "detail": 4, "filter_sort": 4,
    }  # fmt: skip
    assert seen[:6] == ["GET /a", "GET /d1", "POST /f", "GET /a", "GET /d2", "POST /f"]
    assert Counter(seen) == {"GET /a": 4, "GET /d1": 2, "GET /d2": 2, "POST /f": 4}


def test_the_loaded_load_runs_until_told_to_stop(server):
    port, seen = server
    routes = [ReadRoute("list", "list", [Request("GET", "/a")])]
    answered = threading.Event()

    def until():
        if len(seen) >= 10:
            answered.set()
        return answered.is_set()

    phases, _ = mixed.drive_mix(port, "token", routes, concurrency=2, until=until, max_seconds=30)

    assert 10 <= phases["list"].ok <= 12


def test_the_bulk_loop_sends_one_request_at_least_and_stops_when_told(server):
    port, seen = server
    stop = threading.Event()
    stop.set()
    runs: list[dict] = []
    bodies = iter([{"assignments": [1]}, {"assignments": [2]}])

    mixed.bulk_loop(port, "token", bodies, stop, runs)

    assert seen == [f"POST {mixed.BULK_PATH}"]
    assert [run["ok"] for run in runs] == [True]


def test_the_bulk_loop_stops_after_the_most_requests_asked(server):
    port, seen = server
    runs: list[dict] = []
    bodies = iter([{"assignments": [n]} for n in range(5)])

    mixed.bulk_loop(port, "token", bodies, threading.Event(), runs, most=2)

    assert seen == [f"POST {mixed.BULK_PATH}"] * 2
    assert len(runs) == 2


def test_bulk_bodies_have_distinct_patients_and_keep_coming():
    bodies = mixed.bulk_bodies(3, 5000, [2, 3], [9], size=1000)
    first, second = next(bodies), next(bodies)
    for body in (first, second):
        ids = [item["patient_id"] for item in body["assignments"]]
        assert len(ids) == len(set(ids)) == 1000
        assert all(1 <= pid <= 5000 for pid in ids)
    assert first != second


def test_the_import_connects_under_its_own_name():
    assert mixed._with_application("postgresql://u@h:5432/db", "bench import_members") == (
        "postgresql://u@h:5432/db?application_name=bench%20import_members"
    )
    assert mixed._with_application("postgresql://u@h/db?sslmode=disable", "x").endswith(
        "?sslmode=disable&application_name=x"
    )
