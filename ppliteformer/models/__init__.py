"""The models: PaddleNLP families and how to reach their parts (``families``), tokenizers, presets and
loading (``modeling``), checkpoints whose shape a config cannot describe (``structure``), the int8
embedding layer, export to an inference model and import back (``export_program``,
``inference_import``), the training loop (``training``), masked-LM pre-training and FLOPs.
"""
