"""The write-back domain: summaries of every public document, delivered to WordPress by signed
callbacks, and the draft writer's op."""
