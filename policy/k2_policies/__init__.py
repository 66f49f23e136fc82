"""The K2 topic policy pack: rules (pure), their settings, and the pulumi_policy wiring (pack)."""
