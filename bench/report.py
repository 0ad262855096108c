"""The Markdown report of a run (``bench/out/report.md``), rendered from its JSON report."""

from __future__ import annotations

import json
from typing import Any

from bench.mixed_report import render_section
from bench.results import ReadResult, WriteResult
from bench.workload import TARGET_PATIENTS, fmt_ms, markdown_table


def _prewarmed(warmed: dict[str, Any]) -> str:
    if "blocks" in warmed:
        return (
            f"the app's tables and indexes ({warmed['data_mb']:,.0f} MB) loaded into"
            f" shared_buffers with pg_prewarm before measuring"
        )
    if "error" in warmed:
        return f"no ({warmed['error']})"
    return "no (--no-prewarm): a cold server"


def render_markdown(report: dict, reads: list[ReadResult], writes: list[WriteResult]) -> str:
    machine, data, settings = report["machine"], report["dataset"], report["settings"]
    c = settings["concurrency"]
    lines = ["# ECM Admin API benchmark", ""]
    pg = machine["postgresql_settings"]
    lines += [
        f"- Generated {report['generated_at']}, code {machine['git']}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM;"
        f" {machine['os']}; Python {machine['python']}",
        f"- PostgreSQL {machine['postgresql']} (shared_buffers {pg['shared_buffers']},"
        f" work_mem {pg['work_mem']}, effective_cache_size {pg['effective_cache_size']},"
        f" random_page_cost {pg['random_page_cost']}, jit {pg['jit']},"
        f" autovacuum {pg['autovacuum']})",
        "- Prewarmed: " + _prewarmed(report.get("prewarm", {})),
        f"- Data set: {data['patients']:,} ECM patients, database {data['size']} ("
        + ", ".join(f"{t} {n:,}" for t, n in data["rows"].items())
        + ")",
    ]
    lines.append(
        "- Schema (last migration applied): "
        + ", ".join(f"{app} {name}" for app, name in data["migrations"].items())
    )
    build = data.get("build")
    if build and not build.get("skipped"):
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in build["phases"].items())
        lines.append(f"- Build time: {build['seconds']:.1f}s ({phases})")
    elif build:
        lines.append(f"- Build: reused (built earlier in {build['seconds']:.0f}s)")
    load = machine["load_average_at_start"]
    lines += [
        f"- Server: `{settings['gunicorn']}` ({settings['gunicorn_workers']} workers)",
        f"- Load: {settings['requests']} requests per route and concurrency (after"
        f" {settings['warmup']} warm-up requests, at most {settings['max_seconds']:.0f}s),"
        f" keep-alive HTTP/1.1 from Python threads; load average at start"
        f" {load[0]:.2f}, at end {report['load_average_at_end'][0]:.2f}",
        "- DB time: the request's captured SQL replayed on a psycopg connection with the"
        " app's session options, once after each request of the c=1 load (in step with it);"
        ' the median of those replays. "DB apart": the median of'
        f" {settings['db_repetitions']} passes replayed just before the load (median over"
        " variants)",
    ]
    if data["patients"] != TARGET_PATIENTS:
        lines.append(
            f"- **The targets are stated for {TARGET_PATIENTS:,} patients; this run has"
            f" {data['patients']:,}.**"
        )
    lines += ["", "## Read routes (milliseconds)", ""]
    header = [
        "route", "request", "SQL q/req", "DB time", "DB apart", "c=1 p50", f"c={c} p50",
        f"c={c} p95",
        f"c={c} req/s", "overhead (c=1 p50 - DB)", "ratio", "target", "latency",
        "p50 ≤ DB+10",
    ]  # fmt: skip
    rows = []
    for r in reads:
        if r.status != "ok":
            rows.append([r.name, r.label, *["-"] * 10, r.status, "-"])
            continue
        latency, overhead = r.verdicts()
        label = r.label
        if r.total_count is not None:
            exact = "exact" if r.total_count_exact else "WRONG"
            label += f" (total_count {r.total_count:,}: {exact})"
        rows.append(
            [
                r.name,
                label,
                "/".join(map(str, r.queries)),
                fmt_ms(r.db_ms, 2),
                fmt_ms(r.db_ms_apart, 2),
                fmt_ms(r.p50_c1),
                fmt_ms(r.cn["p50_ms"]),
                fmt_ms(r.cn["p95_ms"]),
                fmt_ms(r.cn["rps"]),
                fmt_ms(r.overhead_ms),
                "-" if r.ratio is None else f"{r.ratio:.1f}x",
                f"≤ {r.target_ms:.0f}",
                latency,
                overhead,
            ]
        )
    lines += [markdown_table(header, rows), ""]
    lines.append(
        "Latency verdicts use the c=1 p50 (client-side, whole HTTP exchange). "
        "Errors or non-2xx answers, if any, are listed below."
    )
    problems = []
    for r in reads:
        for phase in (r.c1, r.cn):
            if phase and (phase["errors"] or set(phase["statuses"]) - {"200"}):
                problems.append(
                    f"- {r.name} c={phase['concurrency']}: statuses {phase['statuses']}"
                    f" errors {phase['errors']}"
                )
    lines += problems
    if writes:
        lines += ["", "## Writes (seconds)", ""]
        rows = []
        for w in writes:
            times = ", ".join(
                "-" if run.get("seconds") is None else f"{run['seconds']:.2f}" for run in w.runs
            )
            details = []
            if w.queries is not None:
                details.append(f"{w.queries} SQL queries per request")
            for run in w.runs:
                if run.get("summary"):
                    details.append(run["summary"])
                elif run.get("successful_count") is not None:
                    details.append(f"{run['successful_count']} ok / {run['failed_count']} failed")
                if not run.get("ok") and run.get("stderr_tail"):
                    details.append("stderr: " + run["stderr_tail"][-300:])
                if run.get("first_failure"):
                    details.append(f"first failure: {json.dumps(run['first_failure'])[:200]}")
            if w.note:
                details.append(w.note)
            status = w.status if w.status != "ok" else times
            rows.append(
                [w.name, w.label, status, f"≤ {w.target_s:.0f}", w.verdict(), "; ".join(details)]
            )
        header = ["operation", "what", "time(s)", "target", "verdict", "details"]
        lines += [markdown_table(header, rows)]
    if report.get("mixed"):
        lines += ["", *render_section(report["mixed"])]
    lines += [
        "",
        "## Where the database time goes",
        "",
        "The slowest statements of each request (median ms on replay, share of the request's"
        " DB time), and hints from `EXPLAIN (ANALYZE, BUFFERS)` of the slowest SELECT.",
        "",
    ]
    for r in reads:
        if not r.top_statements:
            continue
        hints = list(r.plan_hints)
        if not any("Seq Scan" in hint for hint in hints):
            hints.insert(0, "no sequential scan")
        explained = f" (`{r.explain_file}`)" if r.explain_file else ""
        lines.append(
            f"- **{r.name}** ({'/'.join(map(str, r.queries))} statements, DB apart"
            f" {fmt_ms(r.db_ms_apart, 2)} ms); plan{explained}: {'; '.join(hints)}"
        )
        for item in r.top_statements:
            lines.append(
                f"  - {item['median_ms']:.2f} ms ({item['share'] * 100:.0f}%): `{item['outline']}`"
            )
    if report["notes"]:
        lines += ["", "## Notes", ""]
    for note in report["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"
