"""The one exception type users see: a message that names the model, the node and the reason."""


class AotError(Exception):
    """A user-facing compile or run failure; the CLI prints it and exits non-zero."""

    def __init__(self, message: str, *, model: str | None = None, node: str | None = None):
        self.model = model
        self.node = node
        where = []
        if model:
            where.append(f"model '{model}'")
        if node:
            where.append(f"node '{node}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class UnsupportedOpError(AotError):
    pass


class ShapeError(AotError):
    pass
