"""The benchmark's figures: scenarios, ratios, the targets, the table (pure: no lab, no clock)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field


@dataclass
class Scenario:
    key: str                    # fresh1, floor1, noop1, fresh8, noop8, noop16, noop_si, noop_tf
    name: str                   # what the table prints
    hosts: int
    seconds: list[float]        # one wall time per repeat
    commands: dict = field(default_factory=dict)  # host -> remote commands (of the median run)
    note: str = ""
    cpu: list = field(default_factory=list)  # [controller, hosts] CPU seconds of the median run

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds)

    def commands_per_host(self) -> str:
        counts = sorted(set(self.commands.values()))
        if not counts:
            return "-"
        return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"

    def as_json(self) -> dict:
        data = asdict(self)
        data["wall_s"] = round(self.wall, 3)
        data["commands_per_host"] = self.commands_per_host()
        return data


# (label, numerator key, denominator key, target: the ratio must be at most this, or None).
# The targets are issue 11's, on the 2-CPU kind of machine the lab runs on: wall-time ratios are
# compared only within one run, since absolute times move with the machine's other load. A fleet's
# no-op is judged against one host of the same lab alone (noop8_1, noop16_1: alternated with it,
# the same load); the 1-host lab's no-op (noop1), measured minutes earlier, is shown beside.
RATIOS = (
    ("fresh converge / floor (1 host)", "fresh1", "floor1", 1.10),
    ("no-op 8 hosts / 1 of them alone (wall, side by side)", "noop8", "noop8_1", 1.5),
    ("no-op 16 hosts / 1 of them alone (wall, side by side)", "noop16", "noop16_1", 2.0),
    ("no-op real-TF host / stand-in host (wall)", "noop_tf", "noop_si", 1.2),
    ("no-op 8 hosts / no-op of the 1-host lab (wall)", "noop8", "noop1", None),
    ("no-op 16 hosts / no-op of the 1-host lab (wall)", "noop16", "noop1", None),
    ("fresh converge 8 hosts / 1 host (wall)", "fresh8", "fresh1", None),
)
# A converged no-op: at most this many remote commands per host (counted from pyinfra --debug).
NOOP_COMMANDS_TARGET = 4
COMMANDS_LABEL = "converged no-op: remote commands per host (most of any no-op row)"


@dataclass
class Target:
    label: str
    value: float | None     # None: a scenario it needs was not measured
    limit: float
    unit: str               # "x" for a ratio, "" for a count

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit

    def line(self) -> str:
        limit = f"{self.limit:.2f}x" if self.unit == "x" else f"{self.limit:g}"
        if self.value is None:
            return f"{self.label} <= {limit}: not measured"
        value = f"{self.value:.2f}x" if self.unit == "x" else f"{self.value:g}"
        return f"{self.label} <= {limit}: {value}: {'met' if self.met else 'NOT MET'}"

    def as_json(self) -> dict:
        return {"label": self.label, "value": None if self.value is None else round(self.value, 3),
                "limit": self.limit, "met": self.met}


def ratios(scenarios: list[Scenario]) -> dict[str, float | None]:
    by_key = {s.key: s for s in scenarios}
    out: dict[str, float | None] = {}
    for label, top, bottom, _ in RATIOS:
        if top in by_key and bottom in by_key and by_key[bottom].wall > 0:
            out[label] = by_key[top].wall / by_key[bottom].wall
        else:
            out[label] = None
    return out


def noop_commands(scenarios: list[Scenario]) -> int | None:
    """The most remote commands any host ran in any no-op row (the median run's count)."""
    counts = [n for s in scenarios if s.key.startswith("noop") for n in s.commands.values()]
    return max(counts) if counts else None


def targets(scenarios: list[Scenario]) -> list[Target]:
    found = [Target(COMMANDS_LABEL, noop_commands(scenarios), NOOP_COMMANDS_TARGET, "")]
    values = ratios(scenarios)
    found += [Target(label, values[label], limit, "x") for label, _, _, limit in RATIOS if limit is not None]
    return found


def per_extra_host(scenarios: list[Scenario]) -> list[str]:
    """What each host beyond the first adds to a no-op run: wall time, and the CPU time of the
    controller and of the lab's hosts (they share the machine's CPUs), from one host of the same
    lab alone (the 1-host lab's no-op where that was not measured)."""
    by_key = {s.key: s for s in scenarios}
    lines = []
    for key in ("noop8", "noop16"):
        many = by_key.get(key)
        one = by_key.get(f"{key}_1") or by_key.get("noop1")
        if one is None or many is None or many.hosts <= 1:
            continue
        extra = many.hosts - 1
        text = f"no-op, each host beyond the first ({many.hosts} hosts): +{(many.wall - one.wall) / extra:.3f} s wall"
        if len(many.cpu) == 2 and len(one.cpu) == 2:
            text += (f", +{(many.cpu[0] - one.cpu[0]) / extra:.3f} s controller CPU"
                     f", +{(many.cpu[1] - one.cpu[1]) / extra:.3f} s hosts' CPU")
        lines.append(text)
    return lines


def render(scenarios: list[Scenario], extra_lines=()) -> str:
    """One table (scenario | hosts | wall s | remote commands/host | CPU s | note), the ratios, then
    the targets, each with its measured value and met or NOT MET (figures: nothing here fails)."""
    header = ("scenario", "hosts", "wall s", "remote commands/host", "CPU s controller/hosts", "note")
    rows = [(s.name, str(s.hosts), f"{s.wall:.2f}", s.commands_per_host(),
             f"{s.cpu[0]:.2f} / {s.cpu[1]:.2f}" if len(s.cpu) == 2 else "-", s.note) for s in scenarios]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(5)]
    align = ("<", ">", ">", ">", ">")

    def line(row):
        cells = [f"{cell:{a}{w}}" for cell, a, w in zip(row[:5], align, widths)]
        return " | ".join([*cells, row[5]]).rstrip()

    out = [line(header), "-+-".join("-" * w for w in widths) + "-+-" + "-" * 4]
    out += [line(row) for row in rows]
    out.append("")
    for label, value in ratios(scenarios).items():
        out.append(f"{label}: " + ("n/a" if value is None else f"{value:.2f}x"))
    out += per_extra_host(scenarios)
    out += ["", "targets (issue 11; ratios from this run):"]
    out += [f"  {target.line()}" for target in targets(scenarios)]
    out += list(extra_lines)
    return "\n".join(out)


def repeats_note(seconds: list[float]) -> str:
    if len(seconds) < 2:
        return ""
    return f"median of {len(seconds)}: " + " ".join(f"{s:.2f}" for s in seconds)
