"""The compression algorithms the steps (``ppliteformer/steps``) run: distillation (the student and the
loss), structured pruning (head and neuron importance), quantization (QAT and PTQ with PaddleSlim)
and vocabulary trimming.
"""
