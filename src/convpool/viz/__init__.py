"""Pictures of what convolution and pooling do: figures (PNG, matplotlib) and self-contained
HTML pages, all computed by convpool's own operators."""
