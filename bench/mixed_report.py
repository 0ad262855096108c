"""The verdicts and the report section of the reads-under-write-load measurement
(``bench.mixed``): pure functions of its results, so ``tests/bench`` checks them directly."""

from __future__ import annotations

import json
from typing import Any

from bench.driver import Answer
from bench.workload import fmt_ms, markdown_table, median

LOADED_P95_LIMIT = 2.0  # a route's loaded p95 at most this many times its idle p95
FEW_SAMPLES = 20  # fewer 2xx answers than this in a window: its p95 says little
# CPU groups (``bench.mixed.Monitor``) of work that is not the run's; noted from a tenth of a core.
OTHER_WORK = ("other processes", "PostgreSQL (other databases)")
OTHER_WORK_NOTED = 0.1


def failures(summary: dict[str, Any]) -> int:
    """Requests of a window that did not get a 2xx answer (other statuses, no answer)."""
    return summary["requests"] - summary["ok"]


def compare(idle: dict[str, Any], loaded: dict[str, Any], limit: float = LOADED_P95_LIMIT):
    """``(ratio of the p95s, verdict)`` of one route: PASS when the loaded p95 is at most
    ``limit`` times the idle one and neither window had a failed request."""
    reasons = []
    ratio = None
    if idle["p95_ms"] and loaded["p95_ms"] is not None:
        ratio = loaded["p95_ms"] / idle["p95_ms"]
        if ratio > limit:
            reasons.append(f"p95 {ratio:.2f}x")
    else:
        reasons.append("no p95")
    errors = failures(idle) + failures(loaded)
    if errors:
        reasons.append(f"{errors} failed")
    return ratio, "PASS" if not reasons else f"FAIL ({', '.join(reasons)})"


def bulk_run(answer: Answer) -> dict[str, Any]:
    """One bulk request's outcome: ok when answered 200 with no failed item."""
    run: dict[str, Any] = {"seconds": answer.ms / 1000, "status": answer.status}
    if answer.error:
        run["error"] = answer.error
    if answer.data:
        try:
            body = json.loads(answer.data)
            run["successful_count"] = body.get("successful_count")
            run["failed_count"] = body.get("failed_count")
        except (ValueError, AttributeError):
            pass
    run["ok"] = answer.status == 200 and run.get("failed_count") == 0
    return run


def overall(routes: list[dict], import_run: dict, bulk_runs: list[dict]) -> str:
    failed = [r["name"] for r in routes if r["verdict"] != "PASS"]
    if not import_run.get("ok"):
        failed.append("import_members")
    if not bulk_runs or not all(run["ok"] for run in bulk_runs):
        failed.append("bulk_assign")
    return "PASS" if routes and not failed else f"FAIL ({', '.join(failed) or 'no route'})"


def other_work(cpu: dict[str, Any]) -> float:
    """Cores that processes outside the run used during a window."""
    used = cpu.get("by_group_cores", {})
    return sum(used.get(name, 0.0) for name in OTHER_WORK)


def _cores(cpu: dict[str, Any]) -> str:
    if cpu.get("busy_share") is None:
        return "-"
    busy = cpu["busy_share"] * cpu["cores"]
    parts = [f"{busy:.2f} of {cpu['cores']} cores busy, steal {cpu['steal_share'] * 100:.0f}%"]
    parts += [f"{name} {used:.2f}" for name, used in cpu["by_group_cores"].items() if used >= 0.01]
    return "; ".join(parts)


def _waits(waits: dict[str, Any]) -> str:
    seen = waits.get("active", {})
    if not waits.get("samples"):
        return f"not sampled ({waits['error']})" if waits.get("error") else "not sampled"
    top = ", ".join(f"{name} {n}" for name, n in list(seen.items())[:8]) or "none active"
    return f"{waits['samples']} samples: {top}"


def render_section(mixed: dict[str, Any]) -> list[str]:
    """The report's section on reads under write load (Markdown lines)."""
    idle, loaded = mixed["windows"]["idle"], mixed["windows"]["loaded"]
    c, imp, bulk = mixed["concurrency"], mixed["import"], mixed["bulk"]
    lines = [
        f"## Reads during writes (c={c}): idle, then during import_members and bulk_assign",
        "",
        f"The read routes round robin from {c} clients. Idle: {idle['requests']:,} requests in"
        f" {idle['seconds']:.1f}s (load average {idle['load_average']:.2f} at its start)."
        f" Loaded: {loaded['requests']:,} requests in {loaded['seconds']:.1f}s, from the"
        " import's start until it ended and the last bulk request was answered (load average"
        f" {loaded['load_average']:.2f} at its start). A route passes when its loaded p95 is"
        f" at most {mixed['limit']:g}x its idle p95 and no request failed (non-2xx or no"
        " answer) in either window.",
        "",
    ]
    header = [
        "route", "idle p50", "idle p95", "loaded p50", "loaded p95", "p95 loaded/idle",
        "requests idle/loaded", "failed idle/loaded", "verdict",
    ]  # fmt: skip
    rows = []
    for r in mixed["routes"]:
        i, lo = r["idle"], r["loaded"]
        few = " (few)" if lo["ok"] < FEW_SAMPLES or i["ok"] < FEW_SAMPLES else ""
        rows.append(
            [
                r["name"],
                fmt_ms(i["p50_ms"]),
                fmt_ms(i["p95_ms"]),
                fmt_ms(lo["p50_ms"]),
                fmt_ms(lo["p95_ms"]),
                "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
                f"{i['requests']}/{lo['requests']}{few}",
                f"{failures(i)}/{failures(lo)}",
                r["verdict"],
            ]
        )
    lines += [markdown_table(header, rows), ""]
    seconds = [run["seconds"] for run in bulk["runs"]]
    ok = sum(1 for run in bulk["runs"] if run["ok"])
    bulk_line = (
        f"- bulk_assign ({bulk['size']:,} items each), one after the other:"
        f" {len(seconds)} requests,"
        f" {ok} ok (200, no failed item)"
    )
    if seconds:
        bulk_line += (
            f"; {min(seconds):.2f} / {median(seconds):.2f} / {max(seconds):.2f}s"
            " (min / median / max)"
        )
    bad = next((run for run in bulk["runs"] if not run["ok"]), None)
    if bad is not None:
        bulk_line += f"; first failure: {json.dumps(bad)[:200]}"
    import_line = (
        f"- import_members ({imp['rows']:,} new members"
        f"{', under nice -n ' + str(imp['nice']) if imp.get('nice') else ''}"
        f"{', --rows-per-second ' + str(imp['rate']) if imp.get('rate') else ''}):"
        f" {fmt_ms(imp['seconds'], 1)}s, exit"
        f" {imp['returncode']}: {imp['summary']}"
    )
    if imp.get("cpu_s") is not None:
        import_line += f" (its own process: {imp['cpu_s']:.1f} CPU seconds)"
    if not imp.get("ok") and imp.get("stderr_tail"):
        import_line += f"; stderr: {imp['stderr_tail'][-300:]}"
    lines += [
        import_line,
        bulk_line,
        f"- CPU, idle (cores): {_cores(idle['cpu'])}",
        f"- CPU, loaded (cores): {_cores(loaded['cpu'])}",
        f"- PostgreSQL's active connections, idle: {_waits(idle['waits'])}",
        f"- PostgreSQL's active connections, loaded: {_waits(loaded['waits'])}",
    ]
    lock_waits = loaded["waits"].get("lock_waits", {})
    if lock_waits:
        lines.append("- Lock waits seen under load (samples): ")
        lines += [f"  - {n}: `{what}`" for what, n in lock_waits.items()]
    shared = [other_work(idle["cpu"]), other_work(loaded["cpu"])]
    if max(shared) >= OTHER_WORK_NOTED:
        lines.append(
            f"- **Other work on the machine (processes not of this run, PostgreSQL's connections"
            f" to other databases) took {shared[0]:.2f} cores idle and {shared[1]:.2f} loaded:"
            " the ratios measure that too.**"
        )
    lines += ["", f"Verdict: **{mixed['verdict']}**"]
    return lines
