"""Work that changes a stack or drives the Pulumi engine: `recover`, `destroy-check`, and the one Pulumi driver."""
