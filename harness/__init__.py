"""saga-harness: chaos and consistency testing around a reference saga."""
