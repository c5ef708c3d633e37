"""What the benchmarks share, one module per concept; each benchmark file keeps only its own measurement.

- `command`: the parent's command line (progress on stderr, a one-line error) and `BenchmarkError`;
- `options`: the options every benchmark takes (`--customers`, `--seed`, `--workdir`, `--record`, ...);
- `children`: a measured child process (`python -m benchmarks.harness`) and its figures;
- `probes`: wall, CPU and peak memory of the running process, and the machine;
- `world`: a simulated world at a scale; `stores`: the tables behind its sources;
- `landing`: the world's streams landed by the connectors into a lake;
- `build_stages`: a timed `dbt build` split into stages;
- `tables`: tables as aligned text and as Markdown, and ratios;
- `results`: the results JSON written, and recorded into `benchmarks/recorded/`;
- `scales`: a run scale by scale, its figures written and printed as each scale is done;
- `readme`: the generated tables of `benchmarks/README.md`.
"""
