"""A stand-in GPU for tests: arrays kept by NumPy that, like CuPy's, refuse to become NumPy
arrays implicitly, registered as the device 'strict'.

Every NumPy function called on a StrictArray raises (its `__array__` does, and it opts out
of NumPy's ufunc and function protocols), and its module refuses host arrays wherever CuPy
would. An op that runs on 'strict' therefore uses only `backend.array_module(x)`'s functions,
never NumPy directly on model data, which is what running on CuPy needs. Results are the
same as NumPy's, so the torch comparisons hold unchanged.
"""

from __future__ import annotations

import operator
import types

import numpy

from convpool import backend


class ImplicitHostConversion(TypeError):
    """A device array was handed to NumPy (or a host array to the device module)."""


def _refuse(what: str):
    raise ImplicitHostConversion(
        f"{what}: the 'strict' stand-in device refuses implicit conversion between host (NumPy) and device "
        "arrays, as CuPy does; use backend.to_host / backend.to_device / backend.asarray")


def _unwrap(value, allow_host: bool = False):
    if isinstance(value, StrictArray):
        return value._a
    if isinstance(value, numpy.ndarray):
        if allow_host:
            return value
        _refuse(f"a NumPy array of shape {value.shape} given to a device function")
    if isinstance(value, list):
        return [_unwrap(v, allow_host) for v in value]
    if isinstance(value, tuple):
        return tuple(_unwrap(v, allow_host) for v in value)
    return value


def _wrap(value):
    if isinstance(value, numpy.ndarray):
        return StrictArray(value)
    if isinstance(value, numpy.generic) and not isinstance(value, numpy.dtype):
        return StrictArray(numpy.asarray(value))  # CuPy reductions give 0-d arrays, not scalars
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _call(fn, args, kwargs, allow_host: bool = False):
    return _wrap(fn(*_unwrap(args, allow_host), **{k: _unwrap(v, allow_host) for k, v in kwargs.items()}))


class StrictArray:
    """A NumPy array behind a wall: operators and methods work, NumPy conversion does not."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # numpy's operators and ufuncs defer to ours (and then refuse host arrays)
    __array_function__ = None

    def __init__(self, array: numpy.ndarray):
        self._a = array

    def __array__(self, *args, **kwargs):
        _refuse("numpy.asarray / numpy function on a device array")

    # plain facts
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))

    @property
    def device(self):
        return types.SimpleNamespace(id=0)

    def __getattr__(self, name: str):
        if name.startswith("__"):  # __array_interface__, __array_struct__, __dlpack__: no way to the host
            raise AttributeError(name)
        attribute = getattr(self._a, name)
        if callable(attribute):
            return lambda *args, **kwargs: _call(attribute, args, kwargs)
        return _wrap(attribute)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index)] = _unwrap(value)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __index__(self) -> int:
        return operator.index(self._a)

    def __repr__(self) -> str:
        return f"StrictArray({self._a!r})"

    __hash__ = None  # type: ignore[assignment]


def _binary(name: str):
    op = getattr(operator, name)

    def method(self, other):
        return _wrap(op(self._a, _unwrap(other)))

    def reflected(self, other):
        return _wrap(op(_unwrap(other), self._a))

    def in_place(self, other):
        getattr(operator, "i" + name.rstrip("_"))(self._a, _unwrap(other))
        return self

    return method, reflected, in_place


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and_", "or_", "xor",
              "lshift", "rshift"):
    _dunder = _name.rstrip("_")
    _method, _reflected, _in_place = _binary(_name)
    setattr(StrictArray, f"__{_dunder}__", _method)
    setattr(StrictArray, f"__r{_dunder}__", _reflected)
    setattr(StrictArray, f"__i{_dunder}__", _in_place)
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(StrictArray, f"__{_name}__", _binary(_name)[0])
for _name in ("neg", "pos", "abs", "invert"):
    setattr(StrictArray, f"__{_name}__", (lambda op: lambda self: _wrap(op(self._a)))(getattr(operator, _name)))


class _StrictUfunc:
    """A NumPy ufunc over device arrays, with its .at / .reduce / .accumulate / .outer."""

    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return _call(self._ufunc, args, kwargs)

    def __getattr__(self, name: str):
        attribute = getattr(self._ufunc, name)
        return (lambda *args, **kwargs: _call(attribute, args, kwargs)) if callable(attribute) else attribute


_TRANSFERS = {"asarray", "array", "ascontiguousarray", "asanyarray"}  # CuPy copies host arrays in these
_MISSING = {"errstate"}  # NumPy names CuPy does not have
_NO_KEYWORDS = {"as_strided": {"writeable", "subok"}}  # keywords CuPy's version does not take


def _cupy_signature(name: str, fn):
    refused = _NO_KEYWORDS.get(name)
    if not refused:
        return fn

    def checked(*args, **kwargs):
        if refused & set(kwargs):
            raise TypeError(f"{name}() got an unexpected keyword argument {sorted(refused & set(kwargs))[0]!r} "
                            "(CuPy's version does not take it)")
        return fn(*args, **kwargs)

    return checked


class StrictModule(types.ModuleType):
    """NumPy's namespace with every function taking and giving StrictArrays."""

    def __init__(self, inner: types.ModuleType, name: str):
        super().__init__(name)
        self._inner = inner

    def __getattr__(self, name: str):
        if name == "ndarray":
            return StrictArray
        if name in _MISSING:
            raise AttributeError(f"module 'cupy' has no attribute {name!r} (the strict stand-in mimics CuPy)")
        attribute = getattr(self._inner, name)
        if isinstance(attribute, numpy.ufunc):
            return _StrictUfunc(attribute)
        if isinstance(attribute, types.ModuleType):
            return StrictModule(attribute, f"{self.__name__}.{name}")
        if isinstance(attribute, type) or not callable(attribute):
            return attribute  # dtypes, constants, errstate
        allow_host = name in _TRANSFERS
        return _cupy_signature(name, lambda *args, **kwargs: _call(attribute, args, kwargs, allow_host))


strict = StrictModule(numpy, "strict")


def register() -> None:
    """Make `convpool.device('strict')` available (idempotent)."""
    backend.register_device_kind(backend.DeviceKind(
        name="strict", module=strict, array_type=StrictArray,
        from_host=lambda array, index: StrictArray(numpy.array(array, copy=True)),
        to_host=lambda array: array._a.copy()))
