"""skae's training engine: torch modules, likelihoods, data rows, training, inference.

Private. It imports torch and numpy only: never scikit-learn, the estimators
(the facade) or the plugin registry. See docs/architecture.md.
"""
