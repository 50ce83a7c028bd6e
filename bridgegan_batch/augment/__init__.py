"""The batch engine: job specs, planning, the translator actors, provenance, manifests and reports."""
