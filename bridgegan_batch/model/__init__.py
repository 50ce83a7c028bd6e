"""The BridgeGAN networks (encoder, mapping, SPADE generator, discriminator), checkpoints, translator."""
