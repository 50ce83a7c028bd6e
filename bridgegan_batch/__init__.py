"""bridgegan-batch: attribute-balanced face dataset augmentation with BridgeGAN, on Ray."""

__version__ = "0.3.0"
