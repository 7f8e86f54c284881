"""SlicerBridge core: typed commands, the coalescing command bus and the scenes they drive.

Nothing in this package imports a transport adapter, except the composition root
(`bridge.app`, `bridge.cli`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slicer-bridge")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
