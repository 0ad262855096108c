"""What a run measured per read route and per write, with the verdicts against the targets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bench.workload import OVERHEAD_TARGET_MS, verdict


@dataclass
class ReadResult:
    name: str
    label: str
    status: str = "ok"  # ok | route missing (404) | error ...
    queries: list[int] = field(default_factory=list)
    # The median of the replays made one after each request of the c=1 load (see
    # ``bench.reads.ReadMeasurement.measure_http``); ``db_ms_apart``: the median of a replay
    # made apart from it.
    db_ms: float | None = None
    db_ms_apart: float | None = None
    capture_ms: float | None = None
    c1: dict[str, Any] | None = None
    cn: dict[str, Any] | None = None
    target_ms: float | None = None
    total_count: int | None = None
    total_count_exact: bool | None = None
    top_statements: list[dict] = field(default_factory=list)
    plan_hints: list[str] = field(default_factory=list)
    explain_file: str | None = None

    @property
    def p50_c1(self) -> float | None:
        return self.c1["p50_ms"] if self.c1 else None

    @property
    def overhead_ms(self) -> float | None:
        if self.p50_c1 is None or self.db_ms is None:
            return None
        return self.p50_c1 - self.db_ms

    @property
    def ratio(self) -> float | None:
        if self.p50_c1 is None or not self.db_ms:
            return None
        return self.p50_c1 / self.db_ms

    def verdicts(self) -> tuple[str, str]:
        latency = verdict(self.p50_c1, self.target_ms)
        if latency == "PASS" and self.total_count_exact is False:
            latency = "FAIL (total_count)"
        limit = None if self.db_ms is None else self.db_ms + OVERHEAD_TARGET_MS
        return latency, verdict(self.p50_c1, limit)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        latency, overhead = self.verdicts()
        data.update(
            overhead_ms=self.overhead_ms,
            ratio=self.ratio,
            latency_verdict=latency,
            overhead_verdict=overhead,
            overhead_target_ms=OVERHEAD_TARGET_MS,
        )
        return data


@dataclass
class WriteResult:
    name: str
    label: str
    status: str = "ok"
    runs: list[dict] = field(default_factory=list)
    target_s: float | None = None
    queries: int | None = None
    note: str = ""

    @property
    def worst_s(self) -> float | None:
        times = [run["seconds"] for run in self.runs if run.get("seconds") is not None]
        return max(times) if times else None

    def verdict(self) -> str:
        if self.status != "ok":
            return "n/a"
        if any(not run.get("ok") for run in self.runs):
            return "FAIL (errors)"
        return verdict(self.worst_s, self.target_s)
