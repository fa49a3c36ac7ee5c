"""The generator of the apertis SDK: `python -m codegen` (make codegen) and `python -m codegen --check`."""
