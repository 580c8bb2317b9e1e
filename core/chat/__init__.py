"""Chat with a model: streamed generation and saved transcripts."""
