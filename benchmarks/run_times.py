"""Where a workflow run's time went: the `benchmark:` files of a results folder, summed per rule.

Every heavy rule writes Snakemake's benchmark TSV to ``<results>/benchmarks/<rule>/<dataset>/<name>.tsv``; its
``s`` is the job's wall-clock seconds, start-up included. This prints, per rule, the number of jobs, their summed
wall-clock seconds, the rule's share and the longest job, and the totals. With one-thread jobs filling every core
(the demo: two at a time on 2 cores), a job's wall clock is its compute; divided by the cores, the total is close to
the run's wall clock. The TSV's ``cpu_time`` is not used: Snakemake samples it (every 0.5 s for a job's first 15 s,
then every 30 s) and writes the last sample, so a 16–45 s job is recorded at about 15 s of CPU. The files are read by
:func:`robinterp.analysis.plan.read_benchmarks`, as ``plan --compare`` reads them.
Rules without a ``benchmark:`` (figures, tables, the report: start-up and seconds of work) are not counted.

    python benchmarks/run_times.py results/demo
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from robinterp.analysis.plan import read_benchmarks


def job_seconds(results: Path) -> dict[str, list[tuple[str, float]]]:
    """``{rule: [(job, wall seconds), …]}`` from ``results/benchmarks/<rule>/…/*.tsv`` (last rows: last attempts)."""
    per_rule: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for path, seconds in read_benchmarks(results).items():
        rule, job = path.removesuffix(".tsv").split("/", 1)
        per_rule[rule].append((job, seconds))
    return dict(per_rule)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="a results folder (the config's `results`)")
    args = parser.parse_args()
    per_rule = job_seconds(args.results)
    if not per_rule:
        raise SystemExit(f"no benchmark files under {args.results / 'benchmarks'}: run the workflow first")
    total = sum(s for jobs in per_rule.values() for _, s in jobs)
    print(f"{'rule':24s} {'jobs':>4s} {'wall s':>8s} {'share':>6s}  longest")
    for rule, jobs in sorted(per_rule.items(), key=lambda kv: -sum(s for _, s in kv[1])):
        rule_seconds = sum(s for _, s in jobs)
        job, longest = max(jobs, key=lambda j: j[1])
        print(f"{rule:24s} {len(jobs):4d} {rule_seconds:8.1f} {rule_seconds / total:6.1%}  {job} {longest:.1f} s")
    print(f"{'total':24s} {sum(map(len, per_rule.values())):4d} {total:8.1f}")


if __name__ == "__main__":
    main()
