"""The fleet report for people (a table plus one line per drift item) and for machines (JSON)."""

from __future__ import annotations

import json

from tools.report.collect import HostReport

COLUMNS = ("host", "gpus", "driver", "conda", "env python", "cudatoolkit", "cudnn", "tensorflow", "verified", "state")


def as_json(reports: list[HostReport]) -> str:
    return json.dumps(
        {"converged": all(r.converged for r in reports), "hosts": [r.as_dict() for r in reports]},
        indent=2, sort_keys=True,
    )


def as_table(reports: list[HostReport]) -> str:
    rows = [COLUMNS] + [_row(r) for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    details = [f"{r.name}: {r.error}" for r in reports if r.error]
    for r in reports:
        details += [f"{r.name}: {item['kind']}: {item['step']}: {item['detail']}" for item in r.drift]
        if r.missing_libraries:
            details.append(f"{r.name}: the env lacks {', '.join(r.missing_libraries)} although conda lists its packages: "
                           "reinstall them (conda install --force-reinstall) or recreate the env")
        details += [f"{r.name}: warning: {text}" for text in r.warnings]
        if r.system_cuda:
            details.append(f"{r.name}: note: a system CUDA {r.system_cuda} is installed besides the env's")
        if r.verdict and not r.verdict.get("ok"):
            details.append(f"{r.name}: last verification failed at {r.verdict.get('failed_layer')}: {r.verdict.get('hint')}")
    converged = sum(r.converged for r in reports)
    summary = f"{converged}/{len(reports)} hosts converged"
    return "\n".join(lines + ([""] + details if details else []) + ["", summary])


def _row(r: HostReport) -> tuple:
    gpus = ", ".join(f"{g['name']} ({g['compute_capability'] or '?'})" for g in r.gpus) or "-"
    if r.driver:
        driver = f"{r.driver} {'>=' if r.driver_ok else '<'} {r.min_driver}"
    else:
        driver = "none" if not r.driver_error else "not answering"
    if r.verdict is None:
        verified = "never"
    else:
        verified = "ok" if r.verdict.get("ok") else f"FAILED ({r.verdict.get('failed_layer')})"
    if r.converged:
        state = "converged"
    elif not r.connected:
        state = "unreachable"
    elif r.error or any(item["kind"] == "failure" for item in r.drift):
        state = "failing"
    else:
        state = "drift"
    return tuple(str(x) for x in (
        r.name, gpus, driver if r.connected else "-", r.conda or "-", r.env_python or "-",
        r.cudatoolkit or "-", r.cudnn or "-", r.tensorflow or "-", verified if r.connected else "-", state,
    ))
