"""The offline tools: `render` (the operator's reconcilers run to a fixpoint on the in-memory
store), `table` (its `-o table` output) and `explain` (the reconcilers' plans in words)."""
