"""The one error type of cnncalc.

Every problem with user input (architecture JSON, expressions, bindings, limits) is raised as
:class:`CnnCalcError`. It carries the layer it concerns (name and index), a JSON path into the
request, and a message that says what to do; the CLI prints it as one line and the HTTP service
answers it with 422.
"""

from __future__ import annotations

from typing import Any


def format_path(path: list[str | int]) -> str:
    """``['input', 'shape', 3]`` as ``input.shape[3]``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


class CnnCalcError(ValueError):
    """Bad input: names the layer (when there is one) and what is wrong."""

    def __init__(
        self,
        message: str,
        *,
        layer: str | None = None,
        index: int | None = None,
        path: list[str | int] | None = None,
        kind: str = "invalid",
    ) -> None:
        self.message = message
        self.layer = layer
        self.index = index
        self.path = list(path) if path else []
        self.kind = kind
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.layer is not None:
            where = f"layer {self.layer!r}"
            if self.index is not None:
                where += f" (#{self.index})"
            where += ": "
        elif self.path:
            where = format_path(self.path) + ": "
        return where + self.message

    def at(self, layer: str | None, index: int | None,
           path: list[str | int] | None = None) -> CnnCalcError:
        """Fill in the layer this error belongs to, unless it is already known."""
        if self.layer is None:
            self.layer, self.index = layer, index
        if not self.path and path:
            self.path = list(path)
        self.args = (str(self),)
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON form used by the CLI (--format json) and the HTTP service."""
        return {
            "error": self.kind,
            "message": str(self),
            "detail": self.message,
            "layer": self.layer,
            "index": self.index,
            "path": self.path,
        }
