"""Running a strategy: the stages (``stages/``, one module per stage kind), the work-directory runner
that reuses finished stages and writes atomically (``runner``), the strategy -> stages composition
(``workflow``), the checks before anything runs (``preflight``) and bundles for a device (``bundle``).
"""
