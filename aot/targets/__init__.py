"""Where generated libraries run: the host today (boards/QEMU build on the same interface)."""
