"""One runtime interface (``host.py``: ``run(inputs) -> every output``, ``outputs_over``) over Paddle
Inference and dygraph here, Paddle Lite in ``device/lite_runtime.py`` and the ARM kernels in
``arm/emulator.py``; and the conversion to Paddle Lite: ``lite_convert`` (opt), ``x86_rewrites``
(the program rewrites Lite x86 needs) and ``int8_table`` (the int8 embedding's table format).
"""
