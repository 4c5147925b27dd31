// Kubesnap
