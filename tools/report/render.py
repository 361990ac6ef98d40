"""The fleet report for people (a table plus one line per drift item) and for machines (JSON)."""

from __future__ import annotations

import json

from tools.report.collect import HostReport
from tools.report.driver import detail_lines
from tools.report.fleet import describe

SHOWN = 5  # differences per host, env and reference in the table; --json carries them all

COLUMNS = ("host", "gpus", "driver", "branch", "conda", "env", "env python", "cudatoolkit", "cudnn", "tensorflow", "verified", "state")


def as_json(reports: list[HostReport]) -> str:
    return json.dumps(
        {"converged": all(r.converged for r in reports),
         # every host read and none differs from its locks or the fleet (tools/report/fleet.py)
         "identical": all(r.identical for r in reports),
         "differing_hosts": [r.name for r in reports if r.differences],
         "hosts": [r.as_dict() for r in reports]},
        indent=2, sort_keys=True,
    )


def as_table(reports: list[HostReport]) -> str:
    rows = [COLUMNS] + [row for r in reports for row in _rows(r)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    details = [f"{r.name}: {r.error}" for r in reports if r.error]
    for r in reports:
        details += [f"{r.name}: {item['kind']}: {item['step']}: {item['detail']}" for item in r.drift]
        details += detail_lines(r.name, r.driver_plan)
        if r.missing_libraries:
            details.append(f"{r.name}: the env lacks {', '.join(r.missing_libraries)} although conda lists its packages: "
                           "reinstall them (conda install --force-reinstall) or recreate the env")
        details += [f"{r.name}: warning: {text}" for text in r.warnings]
        if r.system_cuda:
            details.append(f"{r.name}: note: a system CUDA {r.system_cuda} is installed besides the env's")
        for env in r.envs or []:
            if env.missing_libraries and env.name != r.env:
                details.append(f"{r.name}: env {env.name} lacks {', '.join(env.missing_libraries)}: reinstall them or recreate the env")
            if env.verdict and not env.verdict.get("ok"):
                details.append(f"{r.name}: env {env.name}: last verification failed at "
                               f"{env.verdict.get('failed_layer')}: {env.verdict.get('hint')}")
    identity = [line for r in reports for line in _identity_lines(r)]
    if identity:
        details += ["", "Exact versions that differ from the stacks' locks or the fleet's majority:"] + identity
    converged = sum(r.converged for r in reports)
    reachable = [r for r in reports if r.connected and not r.error]
    identical = sum(r.identical for r in reachable)
    summary = (f"{converged}/{len(reports)} hosts converged; {identical}/{len(reachable)} identical "
               "to their stacks' locks and the fleet")
    return "\n".join(lines + ([""] + details if details else []) + ["", summary])


def _rows(r: HostReport) -> list[tuple]:
    """The host's row with its first env, then one row per further env (host columns left empty)."""
    envs = r.envs or [None]
    rows = [_row(r, envs[0])]
    blank = ("",) * 5  # host, gpus, driver, branch, conda
    for env in envs[1:]:
        rows.append(blank + _env_cells(env, r.connected) + ("",))
    return rows


def _env_cells(env, connected: bool) -> tuple:
    if env is None or not env.present:
        return (env.name if env else "-", "-", "-", "-", "-", "-" if not connected else "absent")
    if env.verdict is None:
        verified = "never"
    else:
        verified = "ok" if env.verdict.get("ok") else f"FAILED ({env.verdict.get('failed_layer')})"
    return tuple(str(x) for x in (env.name, env.python or "-", env.cudatoolkit or "-", env.cudnn or "-",
                                  env.tensorflow or "-", verified))


def _row(r: HostReport, env) -> tuple:
    gpus = ", ".join(f"{g['name']} ({g['compute_capability'] or '?'})" for g in r.gpus) or "-"
    if r.driver:
        driver = f"{r.driver} {'>=' if r.driver_ok else '<'} {r.min_driver}"
    else:
        driver = "none" if not r.driver_error else "not answering"
    if r.converged:
        state = "converged"
    elif not r.connected:
        state = "unreachable"
    elif r.error or any(item["kind"] == "failure" for item in r.drift):
        state = "failing"
    else:
        state = "drift"
    env_cells = _env_cells(env, r.connected) if r.connected else ("-",) * 6
    host_cells = (r.name, gpus, driver if r.connected else "-", _branch_cell(r) if r.connected else "-", r.conda or "-")
    return tuple(str(x) for x in host_cells) + env_cells + (state,)


def _branch_cell(r: HostReport) -> str:
    """The branch the deploy would choose for the host's GPUs ("470"), "refused" when it would fail
    the host, "WSL2" where the Windows driver is the only driver."""
    plan = r.driver_plan or {}
    if plan.get("branch"):
        return plan["branch"]
    if plan.get("branch_error"):
        return "refused"
    return "WSL2" if (plan.get("branch_reason") or "").startswith("WSL2") else "-"


def _identity_lines(r: HostReport) -> list[str]:
    """A host's differences, one line per env and reference, the first SHOWN of each spelled out."""
    groups: dict[tuple, list] = {}
    for item in r.differences:
        groups.setdefault((item["env"], item["against"]), []).append(item)
    lines = []
    for (env, against), items in groups.items():
        where = f"env {env}" if env else "host"
        shown = "; ".join(describe(dict(item, env=None)) for item in items[:SHOWN])
        more = f"; and {len(items) - SHOWN} more (--json lists them)" if len(items) > SHOWN else ""
        lines.append(f"{r.name}: {where}: {len(items)} differ from the {against}: {shown}{more}")
    return lines
