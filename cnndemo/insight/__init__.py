"""What a network has learnt: channel visualisation, dataset examples, the feature space and adversarial examples."""
