"""Turn per-run job results into table records (median and min-max over runs)
and print them as fixed-width tables."""

from __future__ import annotations

import statistics

from .plan import CEILING

RTT_METRICS = ("rate", "client_cpu_us", "server_cpu_us")


def records(rows: list, runs: list, ceiling_loop: str, sizes: list) -> list:
    """One record per table line, each metric a list with one value per run (None: failed).

    ``x_picows`` and ``x_ceiling`` divide rates measured in the same run;
    ``x_picows_cpu`` divides the CPU both processes spend per round trip (the
    reference's by this row's), which a busy machine disturbs much less.
    """
    ceiling = _find_ceiling(rows, ceiling_loop)
    out = []
    for row in rows:
        base = {"table": row.table, "lib": row.lib, "loop": row.loop}
        if row.job.mode == "idle":
            record = dict(base)
            for metric in ("kib_per_connection", "rss_before_kib", "rss_after_kib"):
                record[metric] = [_value(run, row.job, None, metric) for run in runs]
            record["x_picows"] = _ratios(runs, row.job, row.reference, None, "kib_per_connection")
            out.append(record)
            continue
        indexes = list(enumerate(sizes)) if row.job.mode == "rtt" else [(None, 256)]
        for index, size in indexes:
            record = dict(base, size=size)
            for metric in RTT_METRICS:
                record[metric] = [_value(run, row.job, index, metric) for run in runs]
            record["x_picows"] = _ratios(runs, row.job, row.reference, index, "rate")
            record["x_picows_cpu"] = _ratios(
                runs, row.reference, row.job, index, "cpu_total", inverse=True
            )
            if row.job.mode == "rtt":
                record["x_ceiling"] = _ratios(runs, row.job, ceiling, index, "rate")
            out.append(record)
    return out


def _find_ceiling(rows: list, loop: str):
    for row in rows:
        if row.table == "ceiling" and row.lib == CEILING and row.loop == loop:
            return row.job
    return None


def _value(run: dict, job, index, metric: str):
    """A metric of ``job`` in ``run``: of size number ``index``, or of the whole result."""
    result = run.get(job)
    if not isinstance(result, dict):
        return None
    if index is not None:
        if index >= len(result["sizes"]):
            return None
        result = result["sizes"][index]
    if metric == "cpu_total":
        return result["client_cpu_us"] + result["server_cpu_us"]
    return result.get(metric)


def _ratios(runs: list, job, reference, index, metric: str, inverse: bool = False) -> list:
    """Per run: metric of ``job`` / metric of ``reference`` (``inverse``: the jobs swapped)."""
    if reference is None or job is None:
        return [None] * len(runs)
    ratios = []
    for run in runs:
        value = _value(run, job, index, metric)
        base = _value(run, reference, index, metric)
        ratios.append(value / base if value is not None and base else None)
    return ratios


# -- formatting ----------------------------------------------------------------------


def summary(values: list):
    """(median, min, max) of the values that exist, or None."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return statistics.median(present), min(present), max(present)


def _format(values: list, number) -> str:
    stats = summary(values)
    if stats is None:
        return "failed"
    median, low, high = stats
    if len([v for v in values if v is not None]) == 1:
        return number(median)
    return f"{number(median)} ({number(low)}-{number(high)})"


def _rate(value: float) -> str:
    if value >= 100_000:
        return f"{value / 1000:.0f}k"
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    return f"{value:,.0f}"


def _micro(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}"


def _size(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000} MB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000} KB"
    return f"{size} B"


def table(headers: list, lines: list, right_from: int) -> str:
    """Fixed-width table; columns from index ``right_from`` on are right-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *lines)]

    def render(cells) -> str:
        parts = []
        for i, (cell, width) in enumerate(zip(cells, widths)):
            parts.append(str(cell).rjust(width) if i >= right_from else str(cell).ljust(width))
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = []
    previous = None
    for line in lines:
        if previous is not None and line[0] != previous:
            body.append("")
        previous = line[0]
        body.append(render(line))
    return "\n".join([render(headers), rule, *body])


def render_rtt(recs: list, table_name: str, lib_header: str) -> str:
    chosen = [r for r in recs if r["table"] == table_name]
    chosen.sort(key=lambda r: r["size"])  # stable: plan order within a size
    lines = []
    for r in chosen:
        line = [
            _size(r["size"]),
            r["lib"],
            "-" if r["loop"] == "none" else r["loop"],
            _format(r["rate"], _rate),
            _format(r["client_cpu_us"], _micro),
            _format(r["server_cpu_us"], _micro),
        ]
        if table_name != "ceiling":
            line.append(_format(r["x_picows"], _ratio))
            line.append(_format(r["x_picows_cpu"], _ratio))
        line.append(_format(r["x_ceiling"], _ratio))
        lines.append(line)
    headers = ["size", lib_header, "loop", "round trips/s", "client us/rt", "server us/rt"]
    if table_name != "ceiling":
        headers += ["x picows", "x picows cpu"]
    headers.append("x ceiling")
    return table(headers, lines, right_from=3)


def render_concurrent(recs: list) -> str:
    lines = [
        [
            r["lib"],
            r["loop"],
            _format(r["rate"], _rate),
            _format(r["server_cpu_us"], _micro),
            _format(r["client_cpu_us"], _micro),
            _format(r["x_picows"], _ratio),
            _format(r["x_picows_cpu"], _ratio),
        ]
        for r in recs
        if r["table"] == "concurrent"
    ]
    headers = [
        "server",
        "loop",
        "messages/s",
        "server us/msg",
        "client us/msg",
        "x picows",
        "x picows cpu",
    ]
    return table(headers, lines, right_from=2)


def render_idle(recs: list) -> str:
    lines = [
        [
            r["lib"],
            r["loop"],
            _format(r["kib_per_connection"], lambda v: f"{v:.1f}"),
            _format(r["rss_before_kib"], lambda v: f"{v / 1024:.1f}"),
            _format(r["rss_after_kib"], lambda v: f"{v / 1024:.1f}"),
            _format(r["x_picows"], _ratio),
        ]
        for r in recs
        if r["table"] == "idle"
    ]
    headers = ["server", "loop", "KiB/connection", "RSS before MiB", "RSS after MiB", "x picows"]
    return table(headers, lines, right_from=2)
