"""The Chat screen's parts: the transcript and the model line."""
