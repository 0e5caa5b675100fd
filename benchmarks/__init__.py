"""FinalMile benchmarks: `python -m benchmarks [names...] [--quick] [--data-dir DIR]`.

Convention: each benchmark is a module `benchmarks/bench_<name>.py` exposing `NAME` (str,
defaults to <name>) and `run(args) -> list[dict]` (one row per instance × solver; at least
`instance, solver, objective, best_known, gap_pct, wall_s` where those apply). The runner
prints each table and writes `benchmarks/results/<name>.csv`. A benchmark whose data is
missing returns no rows and logs why; the runner says the set is empty.
"""
