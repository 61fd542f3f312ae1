"""Evaluation stage: every figure of the search, measured on held-out queries through the same
rankings the engine serves (image, text, the shopper-language set, latency); writes metrics.json."""
