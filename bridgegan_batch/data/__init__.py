"""Shards, SynthFaces, importers and the attribute vocabulary: everything that feeds the model."""
