"""The summary table and the picture of a run (SVG, written by hand so the
harness needs no plotting library): acknowledgements per second and ack
latency over time, with each fault's window shaded."""

from collections import defaultdict

COLUMNS = ["scenario", "seed", "faults", "acked", "lost", "lost_acks1", "dup", "reord",
           "reord_np", "unavail", "longest_s", "replica_batches", "violations"]


def row(r):
    s = r.get("stats", {})
    return [r["scenario"], r.get("seed", ""), s.get("faults", 0), s.get("acknowledged", 0),
            s.get("lost", 0), s.get("lost_acks1", 0), s.get("duplicated", 0), s.get("reordered", 0),
            s.get("reordered_unpromised", 0), s.get("unavailable_windows", 0), s.get("longest_unavailable_s", 0.0),
            s.get("replica_batches_compared", "-"), len(r.get("violations", []))]


def table(results, out=print):
    rows = [COLUMNS] + [[str(x) for x in row(r)] for r in results]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    for n, r in enumerate(rows):
        out("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if n == 0:
            out("  ".join("-" * w for w in widths))
    for r in results:
        for kind in r.get("expected_missing", []):
            out(f"\n{r['scenario']}: expected a '{kind}' finding and the checker reported none"
                f" (the fault events in history.json say whether the fault could cause it)")
        # The first two of each kind, each with its excerpt: enough to see
        # the pattern; result.json has them all.
        per_kind = defaultdict(int)
        shown = 0
        for v in r.get("violations", []):
            per_kind[v["kind"]] += 1
            if per_kind[v["kind"]] > 2:
                continue
            shown += 1
            tag = "" if r.get("promises", True) else " (reported; no promise here)"
            out(f"\n{r['scenario']}: {v['kind']}{tag}: {v['message']}")
            for e in v["excerpt"][:6]:
                out(f"    {e}")
        for kind in sorted({n["kind"] for n in r.get("notes", [])}):
            same = [n for n in r["notes"] if n["kind"] == kind]
            for n in same[:2]:
                out(f"\n{r['scenario']}: {kind} (counted; this producer's configuration does "
                    f"not promise it): {n['message']}")
                for e in n["excerpt"][:6]:
                    out(f"    {e}")
        more = len(r.get("violations", [])) - shown
        if more > 0:
            counts = ", ".join(f"{k} {n}" for k, n in sorted(per_kind.items()))
            out(f"{r['scenario']}: {more} more violations ({counts} in all) in result.json")


def svg(history, path, title, bucket=0.5):
    acks = [e for e in history if e["type"] in ("ack", "zk_ack")]
    faults = [e for e in history if e["type"] == "fault"]
    times = [e["t"] for e in history if "t" in e and e["type"] not in ("final", "zk_final")]
    w, h, left, top, panel = 900, 440, 60, 30, 160
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="13">{title}</text>']
    if not times:
        out.append("</svg>")
        with open(path, "w") as f:
            f.write("\n".join(out))
        return
    t0, t1 = min(times), max(times)
    span = max(t1 - t0, 1.0)
    plot_w = w - left - 20

    def x(t):
        return left + (t - t0) / span * plot_w

    counts = defaultdict(int)
    lat = defaultdict(list)
    for e in acks:
        b = int((e["t"] - t0) / bucket)
        counts[b] += 1
        if "latency" in e:
            lat[b].append(e["latency"] * 1000)
    n = int(span / bucket) + 1
    rate = [counts[b] / bucket for b in range(n)]
    p99 = []
    for b in range(n):
        v = sorted(lat[b])
        p99.append(v[min(len(v) - 1, int(len(v) * 0.99))] if v else None)
    panels = [("acks/s", rate, "#1f77b4", top), ("p99 latency ms", p99, "#d62728",
                                                 top + panel + 40)]
    for label, series, color, y0 in panels:
        vals = [v for v in series if v is not None]
        vmax = max(vals) if vals else 1.0
        vmax = vmax if vmax > 0 else 1.0
        for f in faults:
            fx0, fx1 = x(f["t"]), x(f.get("end", f["t"]))
            out.append(f'<rect x="{fx0:.1f}" y="{y0}" width="{max(fx1 - fx0, 1):.1f}" '
                       f'height="{panel}" fill="#f4b183" opacity="0.5"><title>{f["kind"]} '
                       f'{f.get("target", "")}</title></rect>')
        out.append(f'<rect x="{left}" y="{y0}" width="{plot_w}" height="{panel}" fill="none" '
                   f'stroke="#888"/>')
        # A bucket with no ack has no latency: the line breaks there rather
        # than drawing a slope nobody measured.
        runs, pts = [], []
        for b, v in enumerate(series + [None]):
            if v is None:
                if pts:
                    runs.append(pts)
                pts = []
                continue
            pts.append(f"{x(t0 + b * bucket):.1f},{y0 + panel - v / vmax * panel:.1f}")
        for pts in runs:
            out.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="{color}" '
                       f'stroke-width="1.2"/>')
        out.append(f'<text x="4" y="{y0 + 10}">{vmax:.0f}</text>')
        out.append(f'<text x="4" y="{y0 + panel}">0</text>')
        out.append(f'<text x="{left + 4}" y="{y0 + 12}" fill="{color}">{label}</text>')
    axis_y = top + 2 * panel + 40 + 16
    for k in range(0, int(span) + 1, max(1, int(span / 10))):
        out.append(f'<text x="{x(t0 + k):.1f}" y="{axis_y}">{k}s</text>')
    out.append(f'<text x="{w - 220}" y="{axis_y + 16}" fill="#c55a11">shaded: fault windows'
               f'</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))
