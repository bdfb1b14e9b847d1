"""Networks (pure torch), window scoring, calibration and the model artifact.

Import from the modules themselves (``streamproc.model.artifact``, ``.registry``,
``.scoring``): this package imports nothing, so reading the model table (the CLI's
``--model`` names) does not load torch.
"""
