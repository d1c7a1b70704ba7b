"""Stable, unique, C-safe names derived from ONNX names."""
import re

C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline "
    "int long register restrict return short signed sizeof static struct switch typedef union unsigned "
    "void volatile while _Bool _Complex _Imaginary main".split()
)

# Names the generated files see through their #includes (stdint.h, stddef.h, string.h, math.h): a
# tensor named like one becomes a C parameter that shadows or, for macros, breaks the code using it.
C_STANDARD_NAMES = frozenset(
    # types
    "int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t intptr_t uintptr_t intmax_t "
    "uintmax_t size_t ptrdiff_t wchar_t max_align_t float_t double_t bool true false "
    # macros
    "NULL INFINITY NAN HUGE_VAL HUGE_VALF HUGE_VALL EOF errno EDOM ERANGE offsetof assert "
    "INT8_MIN INT16_MIN INT32_MIN INT64_MIN INT8_MAX INT16_MAX INT32_MAX INT64_MAX UINT8_MAX UINT16_MAX "
    "UINT32_MAX UINT64_MAX INTPTR_MIN INTPTR_MAX UINTPTR_MAX SIZE_MAX PTRDIFF_MIN PTRDIFF_MAX "
    "FLT_MAX FLT_MIN FLT_EPSILON DBL_MAX DBL_MIN DBL_EPSILON FP_NAN FP_INFINITE FP_ZERO FP_NORMAL "
    "FP_SUBNORMAL MATH_ERRNO MATH_ERREXCEPT math_errhandling M_PI M_E M_SQRT2 M_LN2 "
    "isnan isinf isfinite isnormal signbit fpclassify isgreater isless "
    # string.h / stdlib.h functions
    "memcpy memmove memset memcmp memchr strlen strcpy strncpy strcmp strncmp strcat strchr "
    "malloc calloc realloc free abort exit abs labs printf fprintf sprintf snprintf puts"
    .split()
) | frozenset(  # math.h functions in their double, float and long double forms
    f"{fn}{suffix}" for suffix in ("", "f", "l") for fn in (
        "exp exp2 expm1 log log2 log10 log1p sqrt cbrt fabs pow sin cos tan asin acos atan atan2 sinh "
        "cosh tanh asinh acosh atanh erf erfc tgamma lgamma floor ceil round lround rint lrint nearbyint "
        "trunc fmod remainder fmax fmin fdim fma hypot frexp ldexp modf copysign nan").split()
)

# model.h declares <prefix>_run inside extern "C" for C++ users, so its parameter names must not be
# C++ keywords either.
CPP_KEYWORDS = frozenset(
    "alignas alignof and and_eq asm bitand bitor catch char16_t char32_t class compl constexpr const_cast "
    "decltype delete dynamic_cast explicit export friend mutable namespace new noexcept not not_eq nullptr "
    "operator or or_eq private protected public reinterpret_cast static_assert static_cast template this "
    "thread_local throw try typeid typename using virtual xor xor_eq".split()
)

# Prefixes of the runtime (aot_runtime.h and the backends' headers): AOT_OK, aot_relu_f, ...
RUNTIME_NAMESPACES = ("aot_", "AOT_")

RESERVED = C_KEYWORDS | C_STANDARD_NAMES | CPP_KEYWORDS


def is_reserved(name: str) -> bool:
    """True for a name the generated C cannot use for a tensor: a keyword, a standard type, macro or
    library function, or one in the runtime's namespace."""
    return name in RESERVED or name.startswith(RUNTIME_NAMESPACES)


_INVALID = re.compile(r"[^A-Za-z0-9_]")
# C99 guarantees 63 significant characters in identifiers; generated names add prefixes.
MAX_LENGTH = 48


def c_identifier(raw: str, fallback: str = "t", strict: bool = True) -> str:
    """Map any string to a valid C identifier, keeping it recognisable. ``strict``: also never a
    reserved name (is_reserved); otherwise only never a keyword, for names C sees after a prefix."""
    name = re.sub("_+", "_", _INVALID.sub("_", raw)).strip("_") or fallback
    if len(name) > MAX_LENGTH:  # keep the head (the layer) and the tail (what distinguishes outputs)
        name = name[:20].rstrip("_") + "_" + name[-(MAX_LENGTH - 21):].lstrip("_")
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    if strict and name.startswith(RUNTIME_NAMESPACES):  # a suffix would stay inside the namespace
        name = f"{fallback}_{name}"
    if name in (RESERVED if strict else C_KEYWORDS):
        name = f"{name}_"
    return name


def unique_name(base: str, taken: set[str], first_suffix: int = 1) -> str:
    """``base`` if it is not in ``taken``, else ``base_<n>`` with the lowest free n from ``first_suffix``;
    the name is added to ``taken``."""
    name, n = base, first_suffix
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


class NameTable:
    """Hands out unique C identifiers; a collision gets the lowest free numeric suffix, so the result
    depends only on the order of requests (deterministic)."""

    def __init__(self, reserved: set[str] | None = None, strict: bool = True):
        self._used: set[str] = set(reserved or ())
        self._strict = strict  # see c_identifier

    def claim(self, raw: str, fallback: str = "t") -> str:
        """A unique C identifier derived from ``raw``."""
        return self.unique(c_identifier(raw, fallback, self._strict))

    def unique(self, base: str) -> str:
        """``base`` itself if free, else ``base_1``, ``base_2``, ... (no other change to the text)."""
        return unique_name(base, self._used)

    def __contains__(self, name: str) -> bool:
        return name in self._used

    def release(self, name: str) -> None:
        self._used.discard(name)
