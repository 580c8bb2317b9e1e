"""How good is the tuned model: test loss, task score, the base-vs-tuned judge."""
