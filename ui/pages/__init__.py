"""One page class per wizard view; :data:`PAGE_TYPES` maps a view to its page."""
