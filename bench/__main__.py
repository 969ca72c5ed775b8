"""`python -m bench`: measure kes controller scenarios and write the figures.

    python -m bench                      # 1k and 10k, figures to bench-results/
    python -m bench 1k 10k 100k --changes 100
    python -m bench --smoke              # N = 200: counts only (run by make test)

Writes results.json, results.md (a Markdown table) and, when matplotlib is
installed, cpu-and-convergence.png (CPU per cycle and convergence against N).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.run import run
from bench.scenario import SCENARIOS

ROWS = [
    ("initial convergence (s)", "convergence_seconds", "{:.1f}"),
    ("controller CPU to converge (s)", "convergence_cpu_seconds", "{:.1f}"),
    ("GSM accesses to converge", "convergence_gsm_accesses", "{:.0f}"),
    ("Kubernetes requests to converge", "convergence_kube_requests", "{}"),
    ("intervals until the initial sync's tail ended", "settle_intervals", "{:.0f}"),
    ("controller CPU per steady cycle (s)", "steady_cpu_seconds_per_cycle", "{:.3f}"),
    ("GSM accesses per cycle", "steady_gsm_accesses_per_cycle", "{:.0f}"),
    ("Kubernetes requests in the steady window", "steady_kube_requests", "{}"),
    ("renders in the steady window", "steady_renders", "{:.0f}"),
    ("controller RSS, steady (MB)", "rss_bytes", "{:.0f}"),
    ("one /metrics scrape (CPU s)", "scrape_cpu_seconds", "{:.3f}"),
    ("one /metrics scrape (MB)", "scrape_bytes", "{:.2f}"),
    ("propagation by polling, p50 (s)", "propagation_p50_seconds", "{:.2f}"),
    ("propagation by polling, p99 (s)", "propagation_p99_seconds", "{:.2f}"),
    ("monthly GSM cost (USD)", "monthly_gsm_cost_usd", "{:.2f}"),
]
SCALE = {"rss_bytes": 1e6, "scrape_bytes": 1e6}


def markdown(results: list[dict[str, Any]]) -> str:
    header = "| | " + " | ".join(f"N = {r['N']:,}" for r in results) + " |"
    lines = [header, "|---" * (len(results) + 1) + "|"]
    for title, key, form in ROWS:
        cells = []
        for result in results:
            value = result.get(key)
            if value is None:
                cells.append("-")
                continue
            if isinstance(value, dict):
                cells.append(", ".join(f"{k}: {v}" for k, v in sorted(value.items())) or "0")
                continue
            cells.append(form.format(value / SCALE.get(key, 1)))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("| KES's design: GSM accesses per cycle | " + " | ".join(
        f"{r['kes_design']['gsm_accesses_per_cycle']:,}" for r in results) + " |")
    lines.append("| KES's design: Kubernetes requests per cycle | " + " | ".join(
        f"{sum(r['kes_design']['kube_requests_per_cycle'].values()):,}" for r in results) + " |")
    lines.append("| KES's design: monthly GSM cost (USD) | " + " | ".join(
        f"{r['kes_design']['monthly_gsm_cost_usd']:,.2f}" for r in results) + " |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = [r["N"] for r in results]
    figure, (cpu, converge) = plt.subplots(1, 2, figsize=(10, 4))
    cpu.plot(sizes, [r["steady_cpu_seconds_per_cycle"] for r in results], marker="o")
    cpu.set(xscale="log", xlabel="ExternalSecrets (N)", ylabel="CPU s per 10 s cycle",
            title="Steady cycle")
    converge.plot(sizes, [r["convergence_seconds"] for r in results], marker="o")
    converge.set(xscale="log", xlabel="ExternalSecrets (N)", ylabel="seconds",
                 title="Initial convergence")
    figure.tight_layout()
    figure.savefig(path)
    return True


def smoke() -> int:
    """N = 200: only counts, which are exact: one access per distinct version per cycle,
    no Kubernetes request and no render in a steady window."""
    scenario = SCENARIOS["smoke"]
    result = run(scenario, steady_intervals=2, changes=0)
    problems = []
    if result["steady_gsm_accesses_per_cycle"] != scenario.distinct_versions:
        problems.append(f"GSM accesses per cycle {result['steady_gsm_accesses_per_cycle']}, "
                        f"expected {scenario.distinct_versions}")
    heartbeats = result["steady_heartbeats_due"]
    expected = {"patch externalsecrets/status": heartbeats} if heartbeats else {}
    if result["steady_kube_requests"] != expected:
        problems.append(f"Kubernetes requests in a steady window: "
                        f"{result['steady_kube_requests']}, expected {expected} "
                        "(the lastSync heartbeats due in it)")
    if result["steady_renders"]:
        problems.append(f"renders in a steady window: {result['steady_renders']}")
    print(json.dumps(result, indent=2))
    for problem in problems:
        print(f"bench smoke: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"one or more of {', '.join(sorted(SCENARIOS))} (default 1k 10k)")
    parser.add_argument("--smoke", action="store_true", help="the N = 200 count check")
    parser.add_argument("--changes", type=int, default=20,
                        help="new versions whose propagation is timed (default %(default)s)")
    parser.add_argument("--intervals", type=int, default=3,
                        help="poll intervals in the steady window (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"),
                        help="folder for the results (default %(default)s)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the controller with py-spy (collapsed stacks in --out)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(sorted(SCENARIOS))}")
    if args.smoke:
        return smoke()
    results = []
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.scenarios or ["1k", "10k"]:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        results.append(run(SCENARIOS[name], steady_intervals=args.intervals,
                           changes=args.changes, profile=args.out if args.profile else None))
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "results.md").write_text(table)
    print(table)
    if plot(results, args.out / "cpu-and-convergence.png"):
        print(f"plot: {args.out / 'cpu-and-convergence.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
