"""The indexing domain: WordPress documents and media → text → chunks → embeddings."""
