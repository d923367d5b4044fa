"""kneebot: a platform-agnostic knee-pain triage engine for running clubs.

The engine, content, stores and conversations service live here; platform adapters live in
`adapters/` and are the only code that imports a platform SDK.
"""

__version__ = "0.1.0"
