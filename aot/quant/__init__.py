"""Integer quantization: QDQ lowering, fixed-point parameters and the bit-exact golden model."""
