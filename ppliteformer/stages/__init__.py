"""One module per pipeline stage. Each exposes a plain function usable from Python and
a ``stage(strategy)`` factory that wraps it for the pipeline."""
