"""Feature-extractor networks re-implemented in plain PyTorch for the metrics."""
