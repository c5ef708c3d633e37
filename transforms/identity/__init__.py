"""Identity resolution: probabilistic matching of profile records and stitching of the identity graph."""
