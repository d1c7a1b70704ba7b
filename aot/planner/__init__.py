from .offsets import BufferRequest, Overlap, arena_size, assign_offsets, lower_bound
from .plan import InPlace, MemoryPlan, Step, Storage, plan_memory

__all__ = ["BufferRequest", "Overlap", "assign_offsets", "arena_size", "lower_bound", "InPlace", "MemoryPlan", "Step",
           "Storage", "plan_memory"]
