"""Config, fitting, evaluation, reports and MLflow tracking."""
