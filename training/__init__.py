"""Fine-tuning, evaluation, model card, export and publishing for clean-or-messy."""
