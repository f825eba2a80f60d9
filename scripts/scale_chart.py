#!/usr/bin/env python3
"""Draws the claim_scale figures as an SVG chart (standard library only).

    cargo bench --bench claim_scale --features sqlite,postgres | tee scale.md
    python3 scripts/scale_chart.py scale.md > docs-scale.svg

Reads the table rows claim_scale prints (`| backend | accounts | claim p50 / p99 | cycle p50 /
p99 | commits/s | size | RSS |`, extra layout columns tolerated) from the files given or stdin,
and draws two panels against the account count (log scale): the p99 of claim_due(500) in
claim -> commit cycles, and commit_many throughput, one line per backend label. Rows with a
range ("22-26 ms") use the upper bound for latency and the lower bound for throughput.
"""

import math
import re
import sys
from collections import defaultdict

NUM = re.compile(r"[0-9][0-9,.]*")


def numbers(cell):
    return [float(x.replace(",", "")) for x in NUM.findall(cell)]


def parse(lines):
    """{backend: [(accounts, cycle_p99_ms, commits_per_s)]}"""
    series = defaultdict(list)
    for line in lines:
        cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or not cells[1].replace(",", "").isdigit():
            continue
        backend, accounts = cells[0], int(cells[1].replace(",", ""))
        # Optional layout column (packed / scattered) before the latency cells.
        lat_cells = [c for c in cells[2:] if "ms" in c]
        if len(lat_cells) < 2:
            continue
        if not re.match(r"^[0-9]", cells[2]):
            backend = f"{backend} ({cells[2]})"
        cycle = numbers(lat_cells[1])
        after = cells[cells.index(lat_cells[1]) + 1]
        rate = numbers(after)
        if len(cycle) < 2 or not rate:
            continue
        p99 = max(cycle[len(cycle) // 2:])
        series[backend].append((accounts, p99, min(rate) * (1000 if "k" in after else 1)))
    for v in series.values():
        v.sort()
    return series


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def panel(x0, title, unit, series, pick, width=420, height=260):
    pts = [(a, pick(p)) for s in series.values() for p in s for a in [p[0]]]
    if not pts:
        return ""
    xs = [math.log10(a) for a, _ in pts]
    ymax = max(y for _, y in pts) * 1.15 or 1
    xmin, xmax = min(xs), max(xs)
    if xmax == xmin:
        xmin, xmax = xmin - 0.5, xmax + 0.5
    left, top, w, h = x0 + 60, 40, width - 80, height - 90

    def sx(a):
        return left + (math.log10(a) - xmin) / (xmax - xmin) * w

    def sy(y):
        return top + h - y / ymax * h

    out = [f'<text x="{x0 + width / 2}" y="20" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#333"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#333"/>']
    for i in range(5):
        y = ymax * i / 4
        label = f"{y / 1000:,.0f}k" if ymax >= 10_000 else f"{y:,.1f}"
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4}" text-anchor="end" font-size="11">{label}</text>')
    for e in range(math.floor(xmin), math.ceil(xmax) + 1):
        a = 10 ** e
        if xmin - 1e-9 <= e <= xmax + 1e-9:
            label = f"{a:,.0f}" if a < 1e6 else f"{a / 1e6:g} M"
            out.append(f'<text x="{sx(a)}" y="{top + h + 16}" text-anchor="middle" font-size="11">{label}</text>')
    out.append(f'<text x="{left + w / 2}" y="{top + h + 34}" text-anchor="middle" font-size="12">accounts</text>')
    out.append(f'<text x="{x0 + 14}" y="{top + h / 2}" font-size="12" transform="rotate(-90 {x0 + 14} {top + h / 2})" text-anchor="middle">{unit}</text>')
    for i, (name, s) in enumerate(sorted(series.items())):
        c = COLORS[i % len(COLORS)]
        path = " ".join(f"{sx(a):.1f},{sy(pick(p)):.1f}" for p in s for a in [p[0]])
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for p in s:
            out.append(f'<circle cx="{sx(p[0]):.1f}" cy="{sy(pick(p)):.1f}" r="3" fill="{c}"/>')
        ly = top + h + 52 + 16 * i
        out.append(f'<rect x="{left}" y="{ly - 9}" width="12" height="4" fill="{c}"/>'
                   f'<text x="{left + 18}" y="{ly - 4}" font-size="11">{name}</text>')
    return "\n".join(out)


def main():
    lines = []
    if len(sys.argv) > 1:
        for f in sys.argv[1:]:
            with open(f, encoding="utf-8") as fh:
                lines.extend(fh.readlines())
    else:
        lines = sys.stdin.readlines()
    series = parse(lines)
    if not series:
        sys.exit("no claim_scale rows found")
    height = 260 + 16 * len(series)
    body = panel(0, "claim_due(500) p99 in claim → commit cycles", "ms", series, lambda p: p[1]) + \
        panel(440, "commit_many(500) throughput", "transitions/s", series, lambda p: p[2])
    print(f'<svg xmlns="http://www.w3.org/2000/svg" width="880" height="{height}" '
          f'font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>')


if __name__ == "__main__":
    main()
