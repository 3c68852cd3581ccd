"""What the runtime and the API share: model cards, the registry, errors, typed messages and status."""
