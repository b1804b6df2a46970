"""Strategy YAML and PaddleSlim ACT configs: ``strategy.py`` reads a strategy into frozen dataclasses
(strict; the chain check reads the step and task registries), ``act.py`` translates an ACT config
into a strategy mapping and says what it did.
"""
