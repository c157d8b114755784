"""K3s/RKE2 registries.yaml as code: model, validation, rendering and rollout."""
