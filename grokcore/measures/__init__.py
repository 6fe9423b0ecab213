"""Every quantity the paper computes from stored runs, one module per family."""
