//! The per-step sandbox: fresh Linux namespaces around one build step.
