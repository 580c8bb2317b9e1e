"""The Judge & ship screen's parts: the base-vs-tuned table and the artefacts panel."""
