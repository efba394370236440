"""Quality metrics: feature extractors, FID, KID, IS, precision/recall, SWD."""
