"""What tests, demos and benchmarks share to drive and measure a running stack (outside the image)."""
