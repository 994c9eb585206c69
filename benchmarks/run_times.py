"""Where a workflow run's time went: the `benchmark:` files of a results folder, summed per rule.

Every heavy rule writes Snakemake's benchmark TSV (wall seconds ``s`` and CPU seconds ``cpu_time`` of
the job, start-up included) to ``<results>/benchmarks/<rule>/<dataset>/<name>.tsv``. This prints, per
rule, the number of jobs, their summed wall and CPU time and the longest job, and the totals; the CPU
time is what a busy machine does not inflate (a job waiting for a core gains wall time, not CPU time).
Rules without a ``benchmark:`` (figures, tables, the report: start-up and seconds of work) are not
counted.

    python benchmarks/run_times.py results/demo [--cores 2]
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path


def job_seconds(results: Path) -> dict[str, list[tuple[str, float, float]]]:
    """``{rule: [(job, wall seconds, CPU seconds), …]}`` from ``results/benchmarks/<rule>/…/*.tsv`` (last rows)."""
    per_rule: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    root = results / "benchmarks"
    for tsv in sorted(root.rglob("*.tsv")):
        with open(tsv, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            rule, job = tsv.relative_to(root).parts[0], str(tsv.relative_to(root / tsv.relative_to(root).parts[0]))
            per_rule[rule].append((job.removesuffix(".tsv"), float(rows[-1]["s"]), float(rows[-1]["cpu_time"])))
    return dict(per_rule)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a results folder (the config's `results`)")
    args = parser.parse_args()
    per_rule = job_seconds(args.results)
    if not per_rule:
        raise SystemExit(f"no benchmark files under {args.results / 'benchmarks'}: run the workflow first")
    wall = sum(s for jobs in per_rule.values() for _, s, _ in jobs)
    cpu = sum(c for jobs in per_rule.values() for _, _, c in jobs)
    print(f"{'rule':24s} {'jobs':>4s} {'wall s':>8s} {'CPU s':>8s} {'CPU share':>9s}  longest (wall)")
    for rule, jobs in sorted(per_rule.items(), key=lambda kv: -sum(c for _, _, c in kv[1])):
        rule_cpu = sum(c for _, _, c in jobs)
        job, longest, _ = max(jobs, key=lambda j: j[1])
        print(f"{rule:24s} {len(jobs):4d} {sum(s for _, s, _ in jobs):8.1f} {rule_cpu:8.1f} {rule_cpu / cpu:9.1%}"
              f"  {job} {longest:.1f} s")
    print(f"{'total':24s} {sum(map(len, per_rule.values())):4d} {wall:8.1f} {cpu:8.1f}")


if __name__ == "__main__":
    main()
