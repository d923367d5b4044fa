"""The exception hierarchy of kneebot.

KneebotError
├── ContentError      content files that cannot be loaded (file, line, what is wrong)
├── ConfigError       an environment variable or .env value that cannot be used
└── StoreError        the conversation store cannot be reached or answered oddly
    └── ConflictError a conversation kept changing under us; the event was not applied
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConflictError", "ContentError", "ContentProblem", "KneebotError", "StoreError"]


class KneebotError(Exception):
    """Root of every error kneebot raises on purpose."""


@dataclass(frozen=True)
class ContentProblem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class ContentError(KneebotError):
    def __init__(self, problems: list[ContentProblem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"invalid content ({count}):\n" + "\n".join(f"  {p}" for p in problems))


class ConfigError(KneebotError):
    pass


class StoreError(KneebotError):
    pass


class ConflictError(StoreError):
    pass
