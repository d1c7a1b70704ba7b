from .offsets import BufferRequest, arena_size, assign_offsets, lower_bound
from .plan import MemoryPlan, Step, Storage, plan_memory

__all__ = ["BufferRequest", "assign_offsets", "arena_size", "lower_bound", "MemoryPlan", "Step", "Storage",
           "plan_memory"]
