"""SCS-Co training: data synthesis, dynamic negatives, contrastive losses, the training loop."""
