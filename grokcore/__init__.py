"""grokcore: the science of 'Grokking vs. Learning' (data, models, training, Fisher, measures, storage)."""
