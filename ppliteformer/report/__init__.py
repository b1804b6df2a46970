"""The report: stage metrics -> ``Report`` and the printed table (``build``), and report.json ->
report.html / report.md (``render``, standard library only). The record types live in
``ppliteformer/records.py``.
"""
