"""Optimizers that never import torch._dynamo, which relubench never uses.

torch.optim imports torch._dynamo, which costs about as much start-up as importing torch
itself (`python -m benchmarks.breakdown` measures it), at two places, only to serve torch.compile:

- every optimizer's `step` is wrapped (`_use_grad_for_differentiable`) to switch gradients off
  and insert a graph break for the compiler; `eager(cls)` is `cls` with its step run under
  `torch.no_grad()` directly, which is all that wrapper does for a non-differentiable
  optimizer outside torch.compile;
- `add_param_group`, `zero_grad`, `state_dict`, `load_state_dict` and each algorithm's
  functional update (`sgd`, `adam`, ...) are wrapped in `torch._disable_dynamo`, whose first
  call imports torch._dynamo to mark the function as one the compiler must not trace;
  inside `skipped()` each wrapper finds what it would have cached after that import: the
  function itself. On leaving it the wrappers are as torch made them, so a library user's
  optimizers outside a relubench run (under torch.compile, say) are untouched.

The same functions run on the same tensors: the numbers are those of torch.optim's own classes
(a test checks it bit for bit). Both rely on private details of torch (torch/optim/optimizer.py,
torch/_compile.py); should a release change them, `eager` returns the class unchanged and the
wrappers import torch._dynamo as before, only slower (a test says so).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
import torch.optim

Opt = TypeVar("Opt", bound=torch.optim.Optimizer)
_lock = threading.Lock()
_depth = 0  # runs inside skipped() in this process (a Ray worker trains in a thread)
_set: list[Any] = []  # the functions given their cached value by the outermost skipped()


def _wrappers() -> Iterator[Any]:
    """Every function torch.optim wraps in torch._disable_dynamo: the wrappers are closures of
    one code object, found as attributes of the optimizer classes and modules or in the
    closures of the algorithms' fallback wrappers."""
    inner = torch._disable_dynamo(lambda: None).__code__  # the wrapper every call makes
    seen: set[int] = set()

    def visit(obj: Any) -> Iterator[Any]:
        if not isinstance(obj, types.FunctionType) or id(obj) in seen:
            return
        seen.add(id(obj))
        if obj.__code__ is inner:
            yield obj
        for cell in obj.__closure__ or ():
            try:
                yield from visit(cell.cell_contents)
            except ValueError:  # an empty cell
                continue

    modules = [m for m in vars(torch.optim).values() if isinstance(m, types.ModuleType)]
    for module in [torch.optim, *modules]:
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, torch.optim.Optimizer):
                for attr in vars(value).values():
                    yield from visit(attr)
            else:
                yield from visit(value)


@contextlib.contextmanager
def skipped() -> Iterator[int]:
    """While inside: torch.optim's wrapped functions run without importing torch._dynamo.
    Yields how many functions it set (0 when nested, or if torch no longer wraps them this
    way); on leaving the outermost, every one is as torch left it."""
    global _depth
    with _lock:
        _depth += 1
        found = 0
        if _depth == 1:
            for wrapper in _wrappers():
                fn = getattr(wrapper, "__wrapped__", None)
                if fn is not None and getattr(fn, "__dynamo_disable", None) is None:
                    fn.__dynamo_disable = fn  # what the wrapper calls while inside
                    _set.append(fn)
            found = len(_set)
    try:
        yield found
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for fn in _set:
                    if getattr(fn, "__dynamo_disable", None) is fn:
                        del fn.__dynamo_disable
                _set.clear()


@functools.cache
def eager(cls: type[Opt]) -> type[Opt]:
    """`cls` (an optimizer class) whose step runs under torch.no_grad() without torch's
    compiler wrapper; `cls` itself if its step is not wrapped the way this expects."""
    step: Callable[..., Any] | None = None
    f = cls.step  # once an instance exists, torch has wrapped it again (profiling hooks)
    while step is None and hasattr(f, "__wrapped__") and hasattr(f, "__code__"):
        step = f.__wrapped__ if f.__code__.co_name == "_use_grad" else None
        f = f.__wrapped__
    if step is None:  # not torch's compiler wrapper: leave the class alone
        return cls

    def step_without_compiler(self: Any, closure: Any = None) -> Any:
        if self.defaults.get("differentiable"):  # the wrapper's other case: keep it
            return cls.step(self, closure)
        with torch.no_grad():
            return step(self, closure)

    step_without_compiler.__doc__ = step.__doc__
    return type(cls.__name__, (cls,), {"step": step_without_compiler, "__module__": __name__})
