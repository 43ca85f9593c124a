"""The one error type of cnncalc.

Every problem with user input (architecture JSON, expressions, bindings, limits) is raised as
:class:`CnnCalcError`. It carries the layer it concerns (name and index), a JSON path into the
request, and a message that says what to do; the CLI prints it as one line and the HTTP service
answers it with 422.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

ErrorKind = Literal["schema", "invalid", "input", "expression", "binding", "constraint", "limit",
                    "dependency", "device", "torch"]
"""What a :class:`CnnCalcError` is about (its ``kind``, the ``error`` field of its JSON)."""

ERROR_KINDS: dict[str, str] = {
    "schema": "the architecture JSON does not match the schema (unknown field, bad type or tag)",
    "invalid": "a value is out of range or inconsistent (a layer that cannot apply to its input)",
    "input": "a command-line or request argument is malformed (a file, grid, format or option)",
    "expression": "an expression string is outside the grammar (see docs/schema.md)",
    "binding": "a binding is not a positive integer in range, or names no symbol",
    "constraint": "the bindings violate a constraint the architecture places on its sizes",
    "limit": "a size, a formula or the symbolic work passes a documented limit; bind more sizes",
    "dependency": "an optional extra (torch, matplotlib, pandas...) is not installed",
    "device": "the requested device is not available or not understood",
    "torch": "PyTorch itself failed while building or running the network",
}
"""Every kind, with what it means; the service adds its own (see ``api.models.ErrorBody``)."""

assert set(ERROR_KINDS) == set(get_args(ErrorKind))


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
        kind: ErrorKind = "invalid",
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
