//! `.sops.yaml` creation rules: discovery from the working directory and rule matching.
