"""What runs inside a guest: the allocation and free requests a workload makes."""
