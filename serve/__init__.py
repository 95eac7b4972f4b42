"""Loading a trained model and using it: scoring files, evaluation, the command line."""
