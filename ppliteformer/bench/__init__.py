"""Timing: latency measurement and synthetic inputs (``latency``), the side-by-side benchmark of one
model on Paddle Lite, Paddle Inference and ONNX Runtime (``side_by_side``, with the engines in
``engines`` and one child process per engine, ``child``), and the CPU's fp32 peak.
"""
