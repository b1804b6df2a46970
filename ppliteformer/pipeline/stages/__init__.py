"""One module per pipeline stage. Each exposes a plain function usable from Python and a
``stage(...)`` factory that wraps it for the pipeline (``pipeline.Stage``: a name, a run
function, the config that keys its reuse, the stages it reads).

The factories of the once-per-run stages (data, baselines, pretrain, teacher) take the strategy
alone; those that run once per artifact (export, convert, evaluate, arm_evaluate, bench) and the
chain's steps (compress) also take the names of the stages they read and the name they run under,
which only ``workflow.build_stages`` knows: it is the one place that composes them.
"""
