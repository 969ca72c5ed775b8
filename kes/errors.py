"""The root of every error kes reports to a person.

Messages name the object and the field at fault and never carry a secret value:
they end up in logs, Kubernetes status and Events.
"""


class KesError(Exception):
    """An error kes explains to its user rather than a bug."""


class ObjectFieldError(KesError):
    """A fault in one field of one Kubernetes object.

    Reads as ``ExternalSecret ns/name: spec.data[2].key: <message>`` so a person can
    find the line to fix; ``field`` uses Kubernetes field-path notation.
    """

    kind = "object"

    def __init__(self, object_ref: str, field: str, message: str) -> None:
        super().__init__(f"{self.kind} {object_ref}: {field}: {message}")
        self.object_ref = object_ref
        self.field = field
        self.message = message
