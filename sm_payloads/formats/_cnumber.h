/*
 * sm_payloads/formats/_cnumber.h: text to number, shared by the C kernels of the text formats
 * (included by each extension's .c file; every function is static).
 *
 * smp_number() is the one entry point: the decimal number at p in the CSV or the JSON
 * grammar, converted to a float64 or to a float32. The converter is exact: the value
 * written is the correctly rounded value of the decimal text in the target type.
 *
 * Numbers are exact. A decimal mantissa below 2**53 scaled by 10**e with |e| <= 22 is
 * computed as one IEEE multiplication or division of two exact doubles, which rounds
 * correctly (Clinger's fast path); every other number (more digits, larger exponents,
 * nan/inf spellings) goes to CPython's own correctly rounded, locale-independent
 * PyOS_string_to_double, which is what float() uses. The fast path needs IEEE double
 * arithmetic without extended precision (FLT_EVAL_METHOD 0, as on x86-64 and arm64);
 * elsewhere every number takes the slow path.
 *
 * The loops of the callers run without the GIL; a number for the slow path takes the GIL
 * back for its conversion (and keeps it once such numbers turn out to be common).
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
/* After this many slow-path numbers a call keeps the GIL instead of toggling it. */
#define SLOW_KEEP_GIL 256
/* The longest number text the slow path copies (longer text declines). */
#define SLOW_MAX_LEN 4096

typedef struct {
    PyThreadState *saved; /* non-NULL while the GIL is released */
    Py_ssize_t slow;      /* slow-path numbers so far */
} Gil;

static void gil_release(Gil *g) {
    if (g->saved == NULL && g->slow < SLOW_KEEP_GIL) g->saved = PyEval_SaveThread();
}

static void gil_take(Gil *g) {
    if (g->saved != NULL) {
        PyEval_RestoreThread(g->saved);
        g->saved = NULL;
    }
}

/* The correctly rounded double of text[0:len] by CPython (float()'s converter). Takes
 * the GIL for the call. 0 on success, -1 when CPython does not read all of it as a
 * number (the caller declines). */
static int slow_number(Gil *g, const char *text, Py_ssize_t len, double *out) {
    char local[64];
    char *s = local;
    int ok = -1;
    if (len <= 0 || len > SLOW_MAX_LEN) return -1;
    gil_take(g);
    g->slow++;
    if (len >= (Py_ssize_t)sizeof(local)) {
        s = (char *)PyMem_Malloc((size_t)len + 1);
        if (s == NULL) {
            PyErr_Clear();
            goto done;
        }
    }
    memcpy(s, text, (size_t)len);
    s[len] = '\0';
    {
        char *end = NULL;
        double v = PyOS_string_to_double(s, &end, NULL);
        if (v == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
        } else if (end == s + len) {
            *out = v;
            ok = 0;
        }
    }
    if (s != local) PyMem_Free(s);
done:
    gil_release(g);
    return ok;
}

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

/* Digits, a dot and an exponent: the shared decimal scanner.
 * Reads [digits][.digits][(e|E)[+-]digits] from p (at most to end). mode_json: the JSON
 * grammar (no leading zeros, digits on both sides of a dot, at least one digit before
 * it). Returns the end of the number or NULL when the text there is not one; *exact is
 * set when the fast path can compute it, with *mant and *e10 its value, *is_int when
 * it had neither dot nor exponent. */
static const char *scan_decimal(const char *p, const char *end, int mode_json, uint64_t *mant, int *e10,
                                int *exact, int *is_int) {
    uint64_t m = 0;
    int nd = 0;      /* significant digits held in m */
    int dropped = 0; /* significant digits that did not fit */
    int scale = 0;   /* decimal exponent contributed by the dot */
    int huge = 0;    /* a count left its range: never the fast path */
    int any = 0;
    const char *q;
    *is_int = 1;
    /* integer part */
    q = p;
    if (mode_json && q < end && *q == '0') {
        q++;
        any = 1;
    } else {
        while (q < end && is_digit((unsigned char)*q)) {
            unsigned d = (unsigned)(*q - '0');
            if (m == 0 && d == 0) {
                /* leading zero: no significance */
            } else if (nd < 19) {
                m = m * 10 + d;
                nd++;
            } else {
                dropped = 1;
                if (scale < 1000000) scale++; else huge = 1;
            }
            q++;
            any = 1;
        }
    }
    if (mode_json && !any) return NULL;
    if (q < end && *q == '.') {
        const char *f;
        *is_int = 0;
        q++;
        f = q;
        while (q < end && is_digit((unsigned char)*q)) {
            unsigned d = (unsigned)(*q - '0');
            if (nd < 19 && (m != 0 || d != 0)) {
                m = m * 10 + d;
                nd++;
            } else if (m != 0) {
                dropped = 1;
                q++;
                continue;
            }
            if (scale > -1000000) scale--; else huge = 1;
            q++;
        }
        if (q == f && mode_json) return NULL;
        if (q > f) any = 1;
    }
    if (!any) return NULL;
    if (q < end && (*q == 'e' || *q == 'E')) {
        int neg = 0, ex = 0, ed = 0;
        *is_int = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-')) {
            neg = *q == '-';
            q++;
        }
        while (q < end && is_digit((unsigned char)*q)) {
            if (ex < 100000) ex = ex * 10 + (*q - '0'); else huge = 1;
            q++;
            ed++;
        }
        if (ed == 0) return NULL;
        scale += neg ? -ex : ex;
    }
    *mant = m;
    *e10 = scale;
    *exact = FAST_PATH && !huge && dropped == 0 && m < TWO53 && (m == 0 || (scale >= -22 && scale <= 22));
    return q;
}

/* Eight digits at a time (SWAR), for the common shape digits '.' digits, on little-endian
 * machines with at least 16 bytes left: the run of digits at p is found with bit tricks
 * and converted in a few multiplications. Anything else returns NULL and the byte-wise
 * scanner above reads the number. */
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

static inline const char *swar_decimal(const char *p, const char *end, int mode_json, uint64_t *mant,
                                       int *e10) {
    uint64_t v, m;
    int n1, n2, n3 = 0;
    const char *q;
    if (end - p < 24) return NULL;
    v = load8(p);
    n1 = digit_run(v);
    if (n1 == 0 || n1 == 8 || p[n1] != '.' || (mode_json && n1 > 1 && p[0] == '0')) return NULL;
    m = digits_value(v, n1);
    q = p + n1 + 1;
    v = load8(q);
    n2 = digit_run(v);
    if (n2 == 0) return NULL;
    m = m * UPOW10[n2] + digits_value(v, n2);
    q += n2;
    if (n2 == 8) {
        v = load8(q);
        n3 = digit_run(v);
        if (n3 == 8 || n1 + n2 + n3 > 19) return NULL;
        if (n3) {
            m = m * UPOW10[n3] + digits_value(v, n3);
            q += n3;
        }
    }
    if (*q == 'e' || *q == 'E') return NULL;
    *mant = m;
    *e10 = -(n2 + n3);
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

/* The grammars smp_number reads. */
enum {
    /* [+-]?(decimal | nan | inf | infinity), case-insensitive words; a decimal may start
     * or end with its dot ("1.", ".5"); leading zeros allowed. */
    SMP_CSV = 0,
    /* RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; no nan or inf. An integer
     * (no dot, no exponent) reads as the float of that integer, so -0 is 0.0 (as orjson's
     * int then float() gives); a number beyond the target type's range is refused. */
    SMP_JSON = 1,
};

/* The number at p (at most to end) in `grammar`, written to *(double *)out, or to
 * *(float *)out when f32 is true. Returns the end of its text, or NULL when the text at p
 * is not a number of that grammar (the caller declines; nothing useful is in *out). */
static const char *smp_number(Gil *g, const char *p, const char *end, int grammar, int f32, void *out) {
    const char *s = p, *q;
    uint64_t m;
    int e10, exact, is_int, neg = 0, json = grammar == SMP_JSON;
    double v;
    if (p < end && (*p == '-' || (!json && *p == '+'))) {
        neg = *p == '-';
        p++;
    }
    if (p < end && (is_digit((unsigned char)*p) || (!json && *p == '.'))) {
#if SWAR
        q = swar_decimal(p, end, json, &m, &e10);
        if (q != NULL && FAST_PATH && m < TWO53) {
            v = fast_value(m, e10);
            v = neg ? -v : v;
            goto done;
        }
#endif
        q = scan_decimal(p, end, json, &m, &e10, &exact, &is_int);
        if (q == NULL) return NULL;
        if (json && is_int && q - p <= 19) {
            /* up to 19 digits m holds the integer exactly, and the conversion of an
             * integer to double rounds correctly */
            v = (double)m;
            if (neg) v = -v;
            if (v == 0.0) v = 0.0; /* int -0 is 0 */
            goto done;
        }
        if (exact) {
            v = fast_value(m, e10);
            if (neg) v = -v;
        } else {
            if (slow_number(g, s, q - s, &v) < 0) return NULL;
            if (json && !(v - v == 0.0)) return NULL; /* beyond float64 */
        }
    } else if (json) {
        return NULL;
    } else {
        if (ieq(p, end, "infinity"))
            q = p + 8;
        else if (ieq(p, end, "inf") || ieq(p, end, "nan"))
            q = p + 3;
        else
            return NULL;
        if (slow_number(g, s, q - s, &v) < 0) return NULL;
    }
done:
    if (f32) {
        float f = (float)v;
        if (json && !(f - f == 0.0f)) return NULL; /* beyond float32 */
        *(float *)out = f;
    } else {
        *(double *)out = v;
    }
    return q;
}

#endif /* SMP_CNUMBER_H */
