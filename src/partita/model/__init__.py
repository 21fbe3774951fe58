"""The model layer: project configuration, data model, campaign definitions, problems."""
