"""The benchmark's figures: scenarios, ratios, the table (pure: no lab, no clock)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field


@dataclass
class Scenario:
    key: str                    # fresh1, floor1, noop1, fresh8, noop8
    name: str                   # what the table prints
    hosts: int
    seconds: list[float]        # one wall time per repeat
    commands: dict = field(default_factory=dict)  # host -> remote commands (of the median run)
    note: str = ""

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


# (label, numerator key, denominator key)
RATIOS = (
    ("fresh converge / floor (1 host)", "fresh1", "floor1"),
    ("no-op 8 hosts / no-op 1 host (wall)", "noop8", "noop1"),
    ("fresh converge 8 hosts / 1 host (wall)", "fresh8", "fresh1"),
)


def ratios(scenarios: list[Scenario]) -> dict[str, float | None]:
    by_key = {s.key: s for s in scenarios}
    out: dict[str, float | None] = {}
    for label, top, bottom in RATIOS:
        if top in by_key and bottom in by_key and by_key[bottom].wall > 0:
            out[label] = by_key[top].wall / by_key[bottom].wall
        else:
            out[label] = None
    return out


def render(scenarios: list[Scenario], extra_lines=()) -> str:
    """One table (scenario | hosts | wall s | remote commands/host | note), then the ratios."""
    header = ("scenario", "hosts", "wall s", "remote commands/host", "note")
    rows = [(s.name, str(s.hosts), f"{s.wall:.2f}", s.commands_per_host(), s.note) for s in scenarios]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    align = ("<", ">", ">", ">")

    def line(row):
        cells = [f"{cell:{a}{w}}" for cell, a, w in zip(row[:4], align, widths)]
        return " | ".join([*cells, row[4]]).rstrip()

    out = [line(header), "-+-".join("-" * w for w in widths) + "-+-" + "-" * 4]
    out += [line(row) for row in rows]
    out.append("")
    for label, value in ratios(scenarios).items():
        out.append(f"{label}: " + ("n/a" if value is None else f"{value:.2f}x"))
    out += list(extra_lines)
    return "\n".join(out)


def repeats_note(seconds: list[float]) -> str:
    if len(seconds) < 2:
        return ""
    return f"median of {len(seconds)}: " + " ".join(f"{s:.2f}" for s in seconds)
