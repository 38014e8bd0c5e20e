"""forewarn: predict service failures and resource exhaustion, explain them, and heal safely.

The distribution installs one import namespace. The repository keeps the top-level layout
(``pipeline/``, ``models/``, ``healing/``, ``api/``) and maps it to ``forewarn.pipeline``,
``forewarn.models`` and so on, so nothing collides with other installed packages.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
