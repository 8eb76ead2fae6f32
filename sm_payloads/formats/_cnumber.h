/*
 * sm_payloads/formats/_cnumber.h: text to number, shared by the C kernels of the text formats
 * (included by each extension's .c file; every function is static).
 *
 * smp_number() is the one entry point: the decimal number at p in the CSV or the JSON
 * grammar, converted to a float64 or to a float32. The value written is the correctly
 * rounded value of the decimal text in the target type (round to nearest, ties to the even
 * significand, subnormals included), for any number of digits. A float32 is rounded once,
 * from the decimal, never through a float64.
 *
 * How. The scanner keeps the first 19 significant digits as a 64-bit integer w and the
 * decimal exponent q of its last digit, and notes whether any digit it dropped was nonzero.
 * (On little-endian machines the usual shape, digits '.' digits [exponent], is read 8
 * digits at a time: first at fixed offsets without a loop, swar_fixed, else word by word,
 * swar_decimal; the byte-wise scan_decimal reads everything else.)
 *  1. Clinger's fast path: w < 2**53 and |q| <= 22 make w and 10**|q| exact doubles, and one
 *     IEEE multiplication or division rounds correctly. For a float32 that double is cast,
 *     which is right unless the double is itself a binary32 rounding boundary (a midpoint
 *     of two adjacent float32 values, checked on its bits): the nearest double cannot lie
 *     across a boundary that is a double, so only a double equal to it is ambiguous.
 *  2. Eisel-Lemire (Lemire 2021; Mushtak and Lemire 2022), for binary64 and, with its own
 *     significand width and exponent range, for binary32: w, shifted to fill 64 bits, is
 *     multiplied by T(q), the 128-bit truncation of 5**q (scripts/make_pow5_table.py
 *     writes _cpow5.h), first by its high word, by both when the high word leaves the
 *     rounding position in doubt. With Z the top 128 bits of the 192-bit product, the exact
 *     scaled value X satisfies Z <= X < Z + 2 (one unit from the truncated table, one from
 *     the dropped product bits; X = Z + low/2**64 exactly when T(q) is exact, 0 <= q <= 55).
 *     The bits of Z below the result's last bit decide the rounding unless they are one or
 *     two units below the halfway point, where X may be just below, on or above it: those
 *     rare inputs (exact halfway points with negative q, such as 4503599627370496.5) go to
 *     step 3. Subnormals round at their fixed ulp (2**-1074, 2**-149) in the same way.
 *     The test is conservative: correctness rests on the bound Z <= X < Z + 2 alone.
 *  3. The exact decider: when digits were dropped, w*10**q and (w+1)*10**q bound the value;
 *     if steps 1-2 give both the same result that is the answer. Otherwise the digits are
 *     read again into a big integer D (at most SMP_KEEP_DIGITS of them, then a final 1 when
 *     any later digit is nonzero; every float64 or float32 rounding boundary has at most
 *     768 significant digits, so the truncated decimal lies on the same side of each
 *     boundary as the full one), and D*10**E is compared exactly with the halfway point
 *     (2M+1)*2**(U-1) above the candidate M*2**U, moving one ulp at a time (one or two
 *     comparisons), ties to even. The big integers have a fixed size (SMP_BIG_LIMBS).
 * Time is linear in the length of the text (digits past SMP_KEEP_DIGITS are only checked
 * for nonzero), memory is constant, there is no length limit and no call into Python: the
 * converter never needs the GIL. Exponents saturate at +-10**15 (such a value is 0 or
 * infinity whatever digits a buffer can hold). nan and inf spellings give the quiet NaN
 * (with the sign bit of a leading '-', as float() does) and infinity. Clinger's path needs
 * IEEE double arithmetic without extended precision (FLT_EVAL_METHOD 0, as on x86-64 and
 * arm64); elsewhere it is skipped and step 2 takes its numbers.
 *
 * The Gil helpers stay for the callers' loops, which run without the GIL.
 */
#ifndef SMP_CNUMBER_H
#define SMP_CNUMBER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <stdint.h>
#include <string.h>

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define FAST_PATH 1
#else
#define FAST_PATH 0
#endif

static const double POW10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#define TWO53 9007199254740992ULL
/* The callers' loops run without the GIL; they take it back only to touch Python objects. */
typedef struct {
    PyThreadState *saved; /* non-NULL while the GIL is released */
} Gil;

static void gil_release(Gil *g) {
    if (g->saved == NULL) g->saved = PyEval_SaveThread();
}

static void gil_take(Gil *g) {
    if (g->saved != NULL) {
        PyEval_RestoreThread(g->saved);
        g->saved = NULL;
    }
}

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

/* Explicit exponents saturate here: only a text of about 10**15 digits could bring a value
 * times 10**(+-10**15) back from 0 or infinity, more than any buffer holds. Digit counts
 * and exponents are summed in 64-bit integers. */
#define SMP_EXP_SAT 1000000000000000LL

/* What the decimal scanner found. The value is (w + f) * 10**e10 with 0 <= f < 1, f > 0
 * exactly when `inexact` (a nonzero digit was dropped after the first 19 significant
 * ones). */
typedef struct {
    uint64_t w;       /* the first (at most) 19 significant digits */
    int64_t e10;      /* decimal exponent of w's last digit (saturating) */
    int64_t ex;       /* the explicit exponent (saturating), 0 without one */
    int inexact;      /* a dropped digit was nonzero */
    int is_int;       /* neither dot nor exponent */
    const char *mend; /* end of the digits and dot (start of the exponent, or the end) */
} Dec;

/* Digits, a dot and an exponent: the shared decimal scanner.
 * Reads [digits][.digits][(e|E)[+-]digits] from p (at most to end). json: the JSON
 * grammar (no leading zeros, digits on both sides of a dot, at least one digit before
 * it). Returns the end of the number or NULL when the text there is not one. */
static const char *scan_decimal(const char *p, const char *end, int json, Dec *d) {
    uint64_t m = 0;
    int nd = 0;        /* significant digits held in m */
    int64_t scale = 0; /* decimal exponent contributed by the digits and the dot */
    int inexact = 0, any = 0;
    const char *q = p;
    d->is_int = 1;
    /* integer part */
    if (json && q < end && *q == '0') {
        q++;
        any = 1;
    } else {
        while (q < end && is_digit((unsigned char)*q)) {
            unsigned v = (unsigned)(*q - '0');
            if (nd < 19) {
                if (m != 0 || v != 0) {
                    m = m * 10 + v;
                    nd++;
                }
            } else {
                inexact |= v != 0;
                scale++;
            }
            q++;
            any = 1;
        }
    }
    if (json && !any) return NULL;
    if (q < end && *q == '.') {
        const char *f;
        d->is_int = 0;
        q++;
        f = q;
        while (q < end && is_digit((unsigned char)*q)) {
            unsigned v = (unsigned)(*q - '0');
            if (nd < 19) {
                if (m != 0 || v != 0) {
                    m = m * 10 + v;
                    nd++;
                }
                scale--;
            } else {
                inexact |= v != 0;
            }
            q++;
        }
        if (q == f && json) return NULL;
        if (q > f) any = 1;
    }
    if (!any) return NULL;
    d->mend = q;
    d->ex = 0;
    if (q < end && (*q == 'e' || *q == 'E')) {
        int neg = 0, ed = 0;
        int64_t ex = 0;
        d->is_int = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-')) {
            neg = *q == '-';
            q++;
        }
        while (q < end && is_digit((unsigned char)*q)) {
            if (ex < SMP_EXP_SAT) ex = ex * 10 + (*q - '0');
            q++;
            ed++;
        }
        if (ed == 0) return NULL;
        if (ex > SMP_EXP_SAT) ex = SMP_EXP_SAT;
        d->ex = neg ? -ex : ex;
    }
    d->w = m;
    d->e10 = scale + d->ex;
    d->inexact = inexact;
    return q;
}

/* Eight digits at a time (SWAR), for the common shape digits '.' digits [exponent] (1 to
 * 7 digits before the dot, at most 19 significant digits, an exponent of at most 4
 * digits), on little-endian machines, where 8 bytes are left at each word read: the runs
 * of digits are found with bit tricks and converted in a few multiplications, giving the
 * exact mantissa (below 10**19) and its decimal exponent. Anything else returns NULL and
 * the byte-wise scanner above reads the number. */
/* SMP_NO_SWAR / SMP_NO_SIMD (compiler -D flags) turn the word-wise and SSE2 loops off, so
 * that the byte-wise fallbacks can be tested on machines that have both. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(SMP_NO_SWAR)
#define SWAR 1
static inline uint64_t load8(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* How many of the 8 bytes of v (first byte lowest) are ASCII digits before the first one
 * that is not. A byte is a digit when its high nibble is 3 and stays 3 after adding 6. */
static inline int digit_run(uint64_t v) {
    const uint64_t hi = 0xF0F0F0F0F0F0F0F0ULL, three = 0x3030303030303030ULL;
    uint64_t t = ((v & hi) ^ three) | (((v + 0x0606060606060606ULL) & hi) ^ three);
    return t ? __builtin_ctzll(t) >> 3 : 8;
}

/* The value of the first n (1..8) digit bytes of v. */
static inline uint64_t digits_value(uint64_t v, int n) {
    v = (v - 0x3030303030303030ULL) << (8 * (8 - n)); /* the digits, leading zero bytes */
    v = ((v & 0x0F0F0F0F0F0F0F0FULL) * 2561) >> 8;
    v = ((v & 0x00FF00FF00FF00FFULL) * 6553601) >> 16;
    return ((v & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32;
}

static const uint64_t UPOW10[20] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
    1000000000000000000ULL, 10000000000000000000ULL,
};

/* After the 'e' of a number at q: a short exponent ([+-]? and 1 to 4 digits), stored in
 * *exp and added to *e10; returns the end of the number, or NULL for anything longer or
 * malformed (the byte-wise scanner reads those). */
static inline const char *short_exponent(const char *q, const char *end, int *e10, int *exp) {
    int neg = 0, ex = 0, nd = 0;
    if (q < end && (*q == '+' || *q == '-')) {
        neg = *q == '-';
        q++;
    }
    while (q < end && is_digit((unsigned char)*q)) {
        if (++nd > 4) return NULL;
        ex = ex * 10 + (*q - '0');
        q++;
    }
    if (nd == 0) return NULL;
    *exp = neg ? -ex : ex;
    *e10 += *exp;
    return q;
}

static inline const char *swar_decimal(const char *p, const char *end, int mode_json, uint64_t *mant,
                                       int *e10, const char **mend, int *exp) {
    uint64_t v, m;
    int n1, n, frac = 0;
    const char *q;
    if (end - p < 16) return NULL;
    v = load8(p);
    n1 = digit_run(v);
    if (n1 == 0 || n1 == 8 || p[n1] != '.' || (mode_json && n1 > 1 && p[0] == '0')) return NULL;
    m = digits_value(v, n1);
    q = p + n1 + 1;
    for (;;) {
        /* the fraction, a word at a time, while m stays below 10**19 and a word is left */
        if (end - q < 8) return NULL;
        v = load8(q);
        n = digit_run(v);
        if (n == 0) {
            if (frac == 0) return NULL;
            break;
        }
        if (m >= UPOW10[19 - n] || frac > 64) return NULL; /* more than 19 significant digits */
        m = m * UPOW10[n] + digits_value(v, n);
        q += n;
        frac += n;
        if (n < 8) break;
    }
    *e10 = -frac;
    *mend = q;
    *exp = 0;
    if (*q == 'e' || *q == 'E') {
        q = short_exponent(q + 1, end, e10, exp);
        if (q == NULL) return NULL;
    }
    *mant = m;
    return q;
}

/* The value of the first n (0..8) digit bytes of v (0 for none). */
static inline uint64_t digits_value0(uint64_t v, int n) { return n > 0 ? digits_value(v, n) : 0; }

/* The common shape digits '.' digits [exponent] with 1 to 7 digits before the dot and at
 * most 24 digits in all, read at fixed offsets: the first word without its dot (the digits
 * before it, then those after it moved down a byte, then the byte at p + 8), and the words
 * at p + 9 and p + 17, which hold nothing but the digits that follow. Their digit runs and
 * values do not depend on one another, and the lengths select the words by arithmetic, not
 * by branches, so numbers of mixed lengths cost no mispredicted branch here. At most 19
 * significant digits (leading zeros of "0.00..." aside); needs 32 bytes left at p.
 * Anything else returns NULL (swar_decimal, then the byte-wise scanner, read it). */
static inline const char *swar_fixed(const char *p, const char *end, int mode_json, uint64_t *mant, int *e10,
                                     const char **mend, int *exp) {
    uint64_t v, low, W, A, B, m, zx;
    int n1, r0, r1, r2, c1, c2, D, z;
    const char *q;
    if (end - p < 32) return NULL;
    v = load8(p);
    n1 = digit_run(v);
    if (n1 == 0 || n1 == 8 || p[n1] != '.' || (mode_json && n1 > 1 && p[0] == '0')) return NULL;
    low = (1ULL << (8 * n1)) - 1;
    W = (v & low) | ((v >> 8) & ~low & 0x00FFFFFFFFFFFFFFULL) | ((uint64_t)(unsigned char)p[8] << 56);
    A = load8(p + 9);
    B = load8(p + 17);
    r0 = digit_run(W);
    r1 = digit_run(A);
    r2 = digit_run(B);
    c1 = r0 == 8 ? r1 : 0;
    c2 = r0 == 8 && r1 == 8 ? r2 : 0;
    D = r0 + c1 + c2; /* digits, the dot aside */
    if (D == n1 || c2 == 8) return NULL;
    zx = W ^ 0x3030303030303030ULL; /* leading zeros (of "0.00...") are not significant */
    z = zx ? __builtin_ctzll(zx) >> 3 : 8;
    if (D - z > 19) return NULL;
    m = digits_value(W, r0);
    m = m * UPOW10[c1] + digits_value0(A, c1);
    m = m * UPOW10[c2] + digits_value0(B, c2);
    q = p + D + 1;
    *e10 = n1 - D;
    *mend = q;
    *exp = 0;
    if (*q == 'e' || *q == 'E') {
        q = short_exponent(q + 1, end, e10, exp);
        if (q == NULL) return NULL;
    }
    *mant = m;
    return q;
}
#else
#define SWAR 0
#endif

static inline double fast_value(uint64_t m, int e10) {
    double v = (double)m;
    if (m == 0) return 0.0;
    return e10 >= 0 ? v * POW10[e10] : v / POW10[-e10];
}

/* ------------------------------------------------------------------------------------
 * Binary formats, results as bit patterns
 * ------------------------------------------------------------------------------------ */

#include "_cpow5.h"

/* One IEEE binary format. A finite nonnegative value M * 2**U (M < 2**p, U >= emin) has
 * the bit pattern ((U - emin) << (p - 1)) + M: this holds for subnormals (U = emin) and
 * normals alike, and a significand that rounded up to 2**p carries into the exponent (up to
 * the pattern of infinity) by itself. */
typedef struct {
    int p;         /* significand bits, the hidden one included */
    int emin;      /* exponent of the smallest subnormal */
    int umax;      /* largest ulp exponent of a finite value */
    int qmin;      /* below 10**qmin a 19-digit mantissa is under half the smallest subnormal */
    int qmax;      /* above 10**qmax any value is beyond the largest finite one */
    int dmin;      /* a value below 10**dmin rounds to zero */
    int dmax;      /* a value of at least 10**dmax rounds to infinity */
    uint64_t inf;  /* the pattern of +infinity */
    uint64_t nan;  /* the pattern of the quiet NaN float() gives */
    uint64_t sign; /* the sign bit */
} Fmt;

static const Fmt SMP_F64 = {53, -1074, 971, -342, 308, -324, 309, 0x7FF0000000000000ULL,
                            0x7FF8000000000000ULL, 0x8000000000000000ULL};
static const Fmt SMP_F32 = {24, -149, 104, -64, 38, -46, 39, 0x7F800000ULL, 0x7FC00000ULL, 0x80000000ULL};

static inline uint64_t fmt_pack(const Fmt *f, uint64_t M, int U) {
    uint64_t b;
    if (M == 0) return 0;
    if (U > f->umax) return f->inf;
    b = ((uint64_t)(U - f->emin) << (f->p - 1)) + M;
    return b > f->inf ? f->inf : b;
}

typedef struct {
    uint64_t hi, lo;
} U128;

static inline U128 mul64(uint64_t a, uint64_t b) {
    U128 r;
#if defined(__SIZEOF_INT128__)
    __extension__ unsigned __int128 p = (unsigned __int128)a * b;
    r.hi = (uint64_t)(p >> 64);
    r.lo = (uint64_t)p;
#else
    uint64_t a0 = a & 0xFFFFFFFFu, a1 = a >> 32, b0 = b & 0xFFFFFFFFu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFu) + (p10 & 0xFFFFFFFFu);
    r.lo = (mid << 32) | (p00 & 0xFFFFFFFFu);
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
    return r;
}

static inline int clz64(uint64_t x) {
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_clzll(x);
#else
    int n = 0;
    while (!(x & 0x8000000000000000ULL)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* Eisel-Lemire: the pattern of w * 10**q (w != 0, f->qmin <= q <= f->qmax) rounded to the
 * format, in *bits. Returns 1 when decided; 0 when the value lies too close to a halfway
 * point for the 128-bit product to tell (then *bits is the result rounded down there,
 * within one ulp of the answer). */
static int eisel_lemire(uint64_t w, int q, const Fmt *f, uint64_t *bits) {
    const uint64_t *t = SMP_POW5 + 2 * (q - SMP_POW5_MIN);
    int l = clz64(w);
    int base = 64 - l + SMP_POW5_E2[q - SMP_POW5_MIN]; /* value = X * 2**base */
    int top, U, j, sh, exact = q >= 0 && q <= SMP_POW5_EXACT_MAX;
    uint64_t H, half, mask, qi, low = 0;
    U128 z;
    w <<= l;
    z = mul64(w, t[0]); /* Z1 = w * T_hi; X < Z1 + w + 1 */
    top = (z.hi >> 63) ? 127 : 126;
    U = top - f->p + 1 + base;
    if (U < f->emin) U = f->emin;
    j = U - base; /* the result's unit is bit j of X; j >= top - p + 1 >= 74 */
    if (j > 128) {
        *bits = 0; /* X < 2**128 <= half a unit */
        return 1;
    }
    sh = j - 64;
    mask = sh == 64 ? ~0ULL : (1ULL << sh) - 1;
    half = 1ULL << (sh - 1);
    H = z.hi & mask;
    if (H == half - 1 || H == half) {
        /* the low word of T can move the rounding: take it in */
        U128 z2 = mul64(w, t[1]);
        uint64_t lo = z.lo + z2.hi;
        z.hi += lo < z.lo;
        z.lo = lo;
        low = z2.lo;
        H = z.hi & mask;
    }
    qi = sh == 64 ? 0 : z.hi >> sh;
    if ((H == half - 1 && z.lo >= ~0ULL - 1) || (H == half && z.lo == 0)) {
        /* rare: within 2 units below the halfway point, or just on it */
        if (H == half - 1) {
            /* 1 or 2 units below: X may be on it unless the product is exact */
            if (!exact) {
                *bits = fmt_pack(f, qi, U);
                return 0;
            }
        } else if (exact && low == 0) {
            qi += qi & 1; /* exactly halfway: to even */
        } else {
            qi++; /* above the halfway point */
        }
    } else {
        /* at least 2 units below the halfway point (down) or above it (up): without a
         * branch, the direction of rounding being as likely one way as the other */
        qi += H >= half;
    }
    *bits = fmt_pack(f, qi, U);
    return 1;
}

/* ------------------------------------------------------------------------------------
 * The exact decider: big integers of fixed size
 * ------------------------------------------------------------------------------------ */

/* Significant digits read into the big integer; the rest only counts as zero or not. Every
 * halfway point between adjacent float64 (or float32) values has at most 768 (113)
 * significant digits. */
#define SMP_KEEP_DIGITS 800
/* 32-bit limbs: 3200 bits. The largest operand: D < 10**801 (2661 bits), or
 * (2M+1) * 5**1125 (2667 bits) for the smallest exponents the decider sees. */
#define SMP_BIG_LIMBS 100

typedef struct {
    uint32_t d[SMP_BIG_LIMBS];
    int n; /* limbs in use; d[n-1] != 0 unless n == 0 */
} Big;

static void big_set(Big *b, uint64_t v) {
    b->n = 0;
    while (v) {
        b->d[b->n++] = (uint32_t)v;
        v >>= 32;
    }
}

/* b = b * m + a. Returns 0 on overflow of the fixed size (not reached within the bounds
 * above; checked anyway). */
static int big_muladd(Big *b, uint32_t m, uint32_t a) {
    uint64_t carry = a;
    int i;
    for (i = 0; i < b->n; i++) {
        uint64_t t = (uint64_t)b->d[i] * m + carry;
        b->d[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry) {
        if (b->n >= SMP_BIG_LIMBS) return 0;
        b->d[b->n++] = (uint32_t)carry;
    }
    return 1;
}

static int big_mul_pow5(Big *b, int e) {
    static const uint32_t P5[14] = {1u,      5u,       25u,       125u,       625u,        3125u,       15625u,
                                    78125u,  390625u,  1953125u,  9765625u,   48828125u,   244140625u, 1220703125u};
    while (e > 0) {
        int k = e > 13 ? 13 : e;
        if (!big_muladd(b, P5[k], 0)) return 0;
        e -= k;
    }
    return 1;
}

static int big_bits(const Big *b) {
    int top;
    if (b->n == 0) return 0;
    top = 32;
    while (!(b->d[b->n - 1] & (1u << (top - 1)))) top--;
    return (b->n - 1) * 32 + top;
}

static int big_shl(Big *b, int s) {
    int limbs = s / 32, bits = s % 32, i, n;
    if (b->n == 0) return 1;
    n = b->n + limbs + 1;
    if (n > SMP_BIG_LIMBS) {
        if (big_bits(b) + s > SMP_BIG_LIMBS * 32) return 0;
        n = SMP_BIG_LIMBS;
    }
    for (i = n - 1; i >= 0; i--) {
        int src = i - limbs;
        uint64_t v = 0;
        if (src >= 0 && src < b->n) v = (uint64_t)b->d[src] << bits;
        if (bits && src - 1 >= 0 && src - 1 < b->n) v |= (uint64_t)b->d[src - 1] >> (32 - bits);
        b->d[i] = (uint32_t)v;
    }
    b->n = n;
    while (b->n > 0 && b->d[b->n - 1] == 0) b->n--;
    return 1;
}

static int big_cmp(const Big *a, const Big *b) {
    int i;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

/* The decimal D * 10**E as the decider holds it: L * 2**E with L = D * 5**max(E, 0). */
typedef struct {
    Big L;
    int E;
} Exact;

/* Sign of (D * 10**E) - (2M+1) * 2**(U-1): the value against the halfway point above
 * M * 2**U. -2 if a big integer ran out of room (not reached within the bounds). */
static int exact_cmp_half(const Exact *x, uint64_t M, int U) {
    Big R, Lc;
    int a = x->E, b = U - 1, la, lb;
    big_set(&R, 2 * M + 1);
    if (x->E < 0 && !big_mul_pow5(&R, -x->E)) return -2;
    la = big_bits(&x->L) + a;
    lb = big_bits(&R) + b;
    if (la != lb) return la < lb ? -1 : 1;
    if (a > b) {
        Lc = x->L;
        if (!big_shl(&Lc, a - b)) return -2;
        return big_cmp(&Lc, &R);
    }
    if (!big_shl(&R, b - a)) return -2;
    return big_cmp(&x->L, &R);
}

/* Read the digits of [p, mend) (digits and at most one dot) and the explicit exponent ex
 * into *x. Returns 0 when the value is zero (no nonzero digit), 1 otherwise; *lead is the
 * decimal exponent of the value's leading digit plus one (10**(lead-1) <= value < 10**lead). */
static int exact_read(const char *p, const char *mend, int64_t ex, Exact *x, int64_t *lead) {
    int64_t dexp = 0;
    int kept = 0, sticky = 0, after_dot = 0, chunk_n = 0;
    uint32_t chunk = 0;
    big_set(&x->L, 0);
    for (; p < mend; p++) {
        unsigned v;
        if (*p == '.') {
            after_dot = 1;
            continue;
        }
        v = (unsigned)(*p - '0');
        if (kept == 0 && v == 0) {
            if (after_dot) dexp--;
            continue;
        }
        if (kept < SMP_KEEP_DIGITS) {
            chunk = chunk * 10 + v;
            if (++chunk_n == 9) {
                big_muladd(&x->L, 1000000000u, chunk);
                chunk = 0;
                chunk_n = 0;
            }
            kept++;
            if (after_dot) dexp--;
        } else {
            sticky |= v != 0;
            if (!after_dot) dexp++;
        }
    }
    if (kept == 0) return 0;
    if (sticky) {
        chunk = chunk * 10 + 1;
        chunk_n++;
        kept++;
        dexp--;
    }
    if (chunk_n) {
        static const uint32_t P10[10] = {1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
                                         1000000000u};
        big_muladd(&x->L, P10[chunk_n], chunk);
    }
    dexp += ex;
    *lead = dexp + kept;
    x->E = (int)(dexp < -100000 ? -100000 : dexp > 100000 ? 100000 : dexp);
    return 1;
}

/* The halfway point above the finite pattern `bits` compared with the decimal x (as
 * exact_cmp_half compares it): the pattern's value written as M * 2**U first. */
static int cmp_half_above(const Exact *x, const Fmt *f, uint64_t bits) {
    const uint64_t hid = 1ULL << (f->p - 1);
    if (bits < hid) return exact_cmp_half(x, bits, f->emin); /* subnormal */
    return exact_cmp_half(x, (bits & (hid - 1)) | hid, (int)(bits >> (f->p - 1)) - 1 + f->emin);
}

/* The pattern of the decimal [p, mend) * 10**ex rounded to the format, by exact
 * comparisons, starting from `cand` (a finite pattern, best within an ulp or two). */
static uint64_t exact_round(const char *p, const char *mend, int64_t ex, const Fmt *f, uint64_t cand) {
    Exact x;
    int64_t lead;
    uint64_t bits = cand;
    if (!exact_read(p, mend, ex, &x, &lead)) return 0;
    if (lead <= f->dmin) return 0;
    if (lead - 1 >= f->dmax) return f->inf;
    if (x.E > 0 && !big_mul_pow5(&x.L, x.E)) return f->inf; /* not reached: lead bounds it */
    if (bits >= f->inf) bits = f->inf - 1;
    for (;;) {
        int c = cmp_half_above(&x, f, bits);
        if (c > 0) {
            if (++bits == f->inf) return bits; /* above FLT_MAX/DBL_MAX + half an ulp */
            continue;
        }
        if (c == 0) return bits + (bits & 1); /* halfway: to even */
        if (c == -2) return bits;             /* not reached */
        /* below the halfway point above: is it above the one below? */
        if (bits == 0) return 0;
        bits--;
        c = cmp_half_above(&x, f, bits);
        if (c > 0) return bits + 1;
        if (c == 0) return bits + (bits & 1); /* halfway: to even */
        /* below that too: go on down */
    }
}

/* ------------------------------------------------------------------------------------
 * Decimal to pattern
 * ------------------------------------------------------------------------------------ */

/* Is the double v (finite) exactly a binary32 rounding boundary: the midpoint of two
 * adjacent float32 values of either sign (FLT_MAX + half an ulp included)? */
static inline int f32_boundary(double v) {
    uint64_t b, sig;
    int e, s;
    memcpy(&b, &v, sizeof b);
    if (b & 0x0FFFFFFFULL) return 0; /* a boundary has its 28 low bits zero (most doubles do not) */
    e = (int)((b >> 52) & 0x7FF) - 1023;
    if (e > 127 || e < -150) return 0; /* beyond the largest boundary, or below 2**-150 */
    sig = (b & 0x000FFFFFFFFFFFFFULL) | 0x0010000000000000ULL;
    s = e >= -126 ? 28 : -98 - e; /* the bit worth half a binary32 ulp */
    return (sig & ((2ULL << s) - 1)) == (1ULL << s);
}

/* The pattern of the nonnegative decimal scanned into d from [p, ...) in format f. */
static uint64_t dec_bits(const Dec *d, const char *p, const Fmt *f) {
    uint64_t b1, b2;
    int q;
    if (d->w == 0) return 0;
    if (d->e10 < f->qmin) return 0;
    if (d->e10 > f->qmax) return f->inf;
    q = (int)d->e10;
    if (!d->inexact) {
        if (eisel_lemire(d->w, q, f, &b1)) return b1;
        return exact_round(p, d->mend, d->ex, f, b1);
    }
    /* (w + frac) * 10**q, 0 < frac < 1: between the roundings of w and w + 1 */
    if (eisel_lemire(d->w, q, f, &b1) && eisel_lemire(d->w + 1, q, f, &b2) && b1 == b2) return b1;
    return exact_round(p, d->mend, d->ex, f, b1);
}

/* The grammars smp_number reads. */
enum {
    /* [+-]?(decimal | nan | inf | infinity), case-insensitive words; a decimal may start
     * or end with its dot ("1.", ".5"); leading zeros allowed. */
    SMP_CSV = 0,
    /* RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; no nan or inf. An integer
     * (no dot, no exponent) reads as the float of that integer, so -0 is 0.0 (as orjson's
     * int then float() gives); a number beyond the target type's range (one that rounds
     * to infinity in it) is refused. */
    SMP_JSON = 1,
    /* SMP_JSON, and the three words Python's json reads with its default parse_constant:
     * NaN (the quiet NaN with the sign bit clear, as float("nan")), Infinity and -Infinity,
     * exactly so spelled. For the readers' allow_nan. */
    SMP_JSON_NAN = 2,
};

static int ieq(const char *p, const char *end, const char *word) {
    size_t n = strlen(word), i;
    if ((size_t)(end - p) < n) return 0;
    for (i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[i]) return 0;
    }
    return 1;
}

static inline void put_bits(int f32, uint64_t bits, void *out) {
    if (f32) {
        uint32_t b = (uint32_t)bits;
        memcpy(out, &b, sizeof b);
    } else {
        memcpy(out, &bits, sizeof bits);
    }
}

/* The number at p (at most to end) in `grammar`, written to *(double *)out, or to
 * *(float *)out when f32 is true. Returns the end of its text, or NULL when the text at p
 * is not a number of that grammar (the caller declines; nothing useful is in *out). */
static const char *smp_number(Gil *g, const char *p, const char *end, int grammar, int f32, void *out) {
    const char *q;
    const Fmt *f = f32 ? &SMP_F32 : &SMP_F64;
    Dec d;
    uint64_t bits;
    int neg = 0, json = grammar != SMP_CSV;
    (void)g;
    if (grammar == SMP_JSON_NAN && p < end && (*p == 'N' || *p == 'I' || *p == '-')) {
        int minus = *p == '-';
        const char *w = p + minus;
        if (!minus && end - w >= 3 && memcmp(w, "NaN", 3) == 0) {
            put_bits(f32, f32 ? 0x7FC00000u : 0x7FF8000000000000ULL, out);
            return w + 3;
        }
        if (end - w >= 8 && memcmp(w, "Infinity", 8) == 0) {
            put_bits(f32, (f32 ? 0x7F800000u : 0x7FF0000000000000ULL) | (minus ? (f32 ? 0x80000000u : 0x8000000000000000ULL) : 0),
                     out);
            return w + 8;
        }
    }
    if (p < end && (*p == '-' || (!json && *p == '+'))) {
        neg = *p == '-';
        p++;
    }
    if (p < end && (is_digit((unsigned char)*p) || (!json && *p == '.'))) {
#if SWAR
        {
            uint64_t m;
            int e10, ex;
            const char *mend;
            q = swar_fixed(p, end, json, &m, &e10, &mend, &ex);
            if (q == NULL) q = swar_decimal(p, end, json, &m, &e10, &mend, &ex);
            if (q != NULL) {
                if (FAST_PATH && m < TWO53 && e10 >= -22 && e10 <= 22) {
                    double v = fast_value(m, e10);
                    if (!f32) {
                        *(double *)out = neg ? -v : v;
                        return q;
                    }
                    if (!f32_boundary(v)) {
                        float fv = (float)v;
                        *(float *)out = neg ? -fv : fv;
                        return q;
                    }
                }
                /* the mantissa is exact: Eisel-Lemire without scanning again */
                d.w = m;
                d.e10 = e10;
                d.ex = ex;
                d.inexact = 0;
                d.mend = mend;
                bits = dec_bits(&d, p, f);
                goto have_bits;
            }
        }
#endif
        q = scan_decimal(p, end, json, &d);
        if (q == NULL) return NULL;
        if (json && d.is_int && !d.inexact && d.e10 == 0) {
            /* an integer of at most 19 significant digits: the conversion of an integer
             * rounds correctly; -0 is 0 */
            if (f32) {
                float fv = (float)d.w;
                if (neg) fv = -fv;
                if (fv == 0.0f) fv = 0.0f;
                *(float *)out = fv;
            } else {
                double v = (double)d.w;
                if (neg) v = -v;
                if (v == 0.0) v = 0.0;
                *(double *)out = v;
            }
            return q;
        }
        if (FAST_PATH && !d.inexact && d.w < TWO53 && d.e10 >= -22 && d.e10 <= 22) {
            double v = fast_value(d.w, (int)d.e10);
            if (!f32) {
                *(double *)out = neg ? -v : v;
                return q;
            }
            if (!f32_boundary(v)) {
                float fv = (float)v;
                *(float *)out = neg ? -fv : fv;
                return q;
            }
        }
        bits = dec_bits(&d, p, f);
#if SWAR
    have_bits:
#endif
        if (json && bits == f->inf) return NULL; /* beyond the type's range */
    } else if (json) {
        return NULL;
    } else {
        if (ieq(p, end, "infinity")) {
            q = p + 8;
            bits = f->inf;
        } else if (ieq(p, end, "inf")) {
            q = p + 3;
            bits = f->inf;
        } else if (ieq(p, end, "nan")) {
            q = p + 3;
            bits = f->nan;
        } else {
            return NULL;
        }
    }
    put_bits(f32, neg ? bits | f->sign : bits, out);
    return q;
}

#endif /* SMP_CNUMBER_H */
