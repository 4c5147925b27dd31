// Restic
