"""The OpenAPI schema's declared answers, for validating real responses against them (``jsonschema``)."""

from __future__ import annotations


def declared(schema: dict, method: str, path: str, code: int) -> dict:
    """The schema of the response ``code`` declared for ``method path`` (``path`` as the schema writes it), with the
    schema's components beside it (to resolve its references)."""
    op = schema["paths"][path][method.lower()]
    assert str(code) in op["responses"], f"{method} {path}: {code} is not declared ({sorted(op['responses'])})"
    return {**op["responses"][str(code)]["content"]["application/json"]["schema"], "components": schema["components"]}
