/*
 * sm_payloads.formats._cparse: the text-number kernels of the CSV reader, and the CSV
 * writer's join, in C.
 *
 * Optional accelerator: sm_payloads/formats/_textnum.py holds the numpy twins of the
 * reader (csv_read: read_rows) and of the writer's join (csv_rows: _csv_of_json), with the
 * same contracts, and the test suite checks each pair against each other. The reader stops
 * at the first line it cannot read and the writer declines what it cannot join; the
 * caller's careful path decides what such input is and where it goes wrong.
 *
 * Numbers are read by smp_number (_cnumber.h), exactly. The loops run without the GIL.
 */
#include "_cnumber.h"
#if defined(__SSE2__) && !defined(SMP_NO_SIMD)
#define SIMD 1
#include <emmintrin.h>
#else
#define SIMD 0
#endif

/* ------------------------------------------------------------------------------------
 * CSV
 * ------------------------------------------------------------------------------------ */

static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

static inline int at_field_end(const char *p, const char *end) {
    return p == end || *p == ',' || *p == '\r' || *p == '\n';
}

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define FLATTEN __attribute__((flatten))
#define NOINLINE __attribute__((noinline))
#else
#define ALWAYS_INLINE inline
#define FLATTEN
#define NOINLINE
#endif

/* A missing value (an empty field): NaN in the output type. */
static inline void csv_missing(int f32, void *out) {
    if (f32)
        *(float *)out = (float)Py_NAN;
    else
        *(double *)out = Py_NAN;
}

/* A quoted field at p (*p is '"'): "", or [ \t]*number[ \t]* inside the quotes. Returns the
 * position after the closing quote, or NULL. */
static inline const char *csv_quoted(Gil *g, const char *p, const char *end, int f32, void *out) {
    p++;
    if (p < end && *p == '"') {
        /* "" is an empty field; """ opens a field that starts with a quote (text) */
        p++;
        if (p < end && *p == '"') return NULL;
        csv_missing(f32, out);
        return p;
    }
    while (p < end && is_blank((unsigned char)*p)) p++;
    p = smp_number(g, p, end, SMP_CSV, f32, out);
    if (p == NULL) return NULL;
    while (p < end && is_blank((unsigned char)*p)) p++;
    if (p == end || *p != '"') return NULL;
    return p + 1;
}

/* The quoted field reader for each output type, compiled apart from the unquoted one (the
 * common field stays a short path). */
static NOINLINE FLATTEN const char *csv_quoted64(Gil *g, const char *p, const char *end, void *out) {
    return csv_quoted(g, p, end, 0, out);
}

static NOINLINE FLATTEN const char *csv_quoted32(Gil *g, const char *p, const char *end, void *out) {
    return csv_quoted(g, p, end, 1, out);
}

/* One CSV field at p, its value written to out (a double, or a float when f32):
 * [ \t]*[+-]?(number | nan | inf | infinity)[ \t]*, and what the careful reader also reads
 * as a number: the same inside quotes ("1.5", " 1.5 "; the quotes must be the field's first
 * and last bytes), and an empty field, unquoted or "", as a missing value (NaN). Returns the position after the field (a ',', '\r', '\n' or end is expected
 * there; the caller checks) or NULL. */
static inline const char *csv_field(Gil *g, const char *p, const char *end, int f32, void *out) {
    const char *s = p, *q;
    if (p < end && *p == '"') return f32 ? csv_quoted32(g, p, end, out) : csv_quoted64(g, p, end, out);
    if (at_field_end(p, end)) {
        /* an empty field: a missing value, without asking the number reader */
        csv_missing(f32, out);
        return p;
    }
    while (p < end && is_blank((unsigned char)*p)) p++;
    q = smp_number(g, p, end, SMP_CSV, f32, out);
    if (q == NULL) {
        /* not a number: an empty field is a missing value */
        if (p == s && at_field_end(p, end)) {
            csv_missing(f32, out);
            return p;
        }
        return NULL;
    }
    p = q;
    while (p < end && is_blank((unsigned char)*p)) p++;
    return p;
}

/* Whether the field at s (its text up to end) holds a decimal, not one of the words nan,
 * inf, infinity: after an optional quote, blanks and sign, a digit or a dot. */
static NOINLINE int csv_is_decimal(const char *s, const char *end) {
    if (s < end && *s == '"') s++;
    while (s < end && is_blank((unsigned char)*s)) s++;
    if (s < end && (*s == '+' || *s == '-')) s++;
    return s < end && (is_digit((unsigned char)*s) || *s == '.');
}

/* Whether the value just written to out is an infinity. */
static inline int csv_is_inf(int f32, const void *out) {
    if (f32) {
        uint32_t b;
        memcpy(&b, out, sizeof b);
        return (b & 0x7FFFFFFFu) == 0x7F800000u;
    } else {
        uint64_t b;
        memcpy(&b, out, sizeof b);
        return (b & 0x7FFFFFFFFFFFFFFFULL) == 0x7FF0000000000000ULL;
    }
}

/* Read lines of k fields from p into the rows of dst (rows x k items of 4 bytes when f32,
 * else 8), from row *row on, while every line is one the kernel reads: k fields
 * (csv_field) with ',' between them, ended by '\n', "\r\n" or end (not by a lone '\r');
 * blank lines ("\n", "\r\n") are skipped. Stops at the start of the first line it
 * cannot read, or that finds dst full; returns that position (end when it read
 * everything), *row the next row. Inlined into one function per output type, so that
 * the field and number readers are compiled for a constant type. */
static ALWAYS_INLINE const char *csv_lines(Gil *g, const char *p, const char *end, Py_ssize_t k, int f32,
                                           int strict, char *dst, Py_ssize_t rows, Py_ssize_t *row) {
    const Py_ssize_t item = f32 ? (Py_ssize_t)sizeof(float) : (Py_ssize_t)sizeof(double);
    Py_ssize_t r = *row, c;
    while (p < end) {
        const char *line = p;
        char *o;
        if (*p == '\n') {
            p++;
            continue;
        }
        if (*p == '\r' && end - p >= 2 && p[1] == '\n') {
            p += 2;
            continue;
        }
        if (r >= rows) break;
        o = dst + r * k * item;
        for (c = 0; c < k; c++) {
            const char *s = p;
            p = csv_field(g, p, end, f32, o + c * item);
            if (p == NULL) break;
            /* strict: a decimal beyond the type's range stops the line */
            if (strict && csv_is_inf(f32, o + c * item) && csv_is_decimal(s, end)) {
                p = NULL;
                break;
            }
            if (c + 1 < k) {
                if (p < end && *p == ',') {
                    p++;
                } else {
                    p = NULL;
                    break;
                }
            }
        }
        if (p != NULL && p < end) {
            if (*p == '\n')
                p++;
            else if (*p == '\r' && end - p >= 2 && p[1] == '\n')
                p += 2;
            else
                p = NULL;
        }
        if (p == NULL) {
            p = line;
            break;
        }
        r++;
    }
    *row = r;
    return p;
}

static FLATTEN const char *csv_lines_f64(Gil *g, const char *p, const char *end, Py_ssize_t k, int strict, char *dst,
                                         Py_ssize_t rows, Py_ssize_t *row) {
    return csv_lines(g, p, end, k, 0, strict, dst, rows, row);
}

static FLATTEN const char *csv_lines_f32(Gil *g, const char *p, const char *end, Py_ssize_t k, int strict, char *dst,
                                         Py_ssize_t rows, Py_ssize_t *row) {
    return csv_lines(g, p, end, k, 1, strict, dst, rows, row);
}

/* csv_read's arguments: 0 when they are consistent, else -1 with a
 * ValueError. out holds rows x k items of 4 (f32) or 8 bytes, aligned. */
static int csv_check(const Py_buffer *data, Py_ssize_t lo, Py_ssize_t hi, Py_ssize_t k, const Py_buffer *out,
                     int f32, const char *who) {
    const Py_ssize_t item = f32 ? (Py_ssize_t)sizeof(float) : (Py_ssize_t)sizeof(double);
    /* k is bounded before it scales the item size */
    if (lo < 0 || hi > data->len || lo > hi || k < 1 || k > PY_SSIZE_T_MAX / item || out->len % (item * k) != 0 ||
        (uintptr_t)out->buf % (uintptr_t)item != 0) {
        PyErr_Format(PyExc_ValueError, "%s: bad bounds, width or output size", who);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(csv_read_doc,
             "csv_read(data, lo, hi, k, out, row, f32, strict=False) -> (pos, row)\n\n"
             "Read the lines of data[lo:hi] (lo a line start) into the rows of out, a writable\n"
             "buffer of rows * k float32 (f32 true) or float64 items, from row `row` on, for as\n"
             "long as each line is k fields the kernel reads: a number ([ \\t]*, an optional sign,\n"
             "digits with an optional dot and exponent, or nan/inf/infinity, [ \\t]*), the same\n"
             "inside quotes (\"1.5\", \" 1.5 \"), or an empty field or \"\" (NaN); ',' between\n"
             "fields, '\\n' or '\\r\\n' after the line (or hi). Blank lines ('\\n', '\\r\\n') are\n"
             "skipped. Returns the start of the first line not read (hi when all were) and the\n"
             "next row: the caller gives that line to its careful reader and may call again\n"
             "after it. A line not read is anything else, or a line that finds out full, or,\n"
             "when strict, a line with a decimal beyond the output type's range (one that\n"
             "rounds to infinity; the words inf and infinity are read as infinities).\n"
             "Numbers are correctly rounded in the output type.");

static PyObject *csv_read(PyObject *self, PyObject *args) {
    Py_buffer data, out;
    Py_ssize_t lo, hi, k, row, rows, pos;
    int f32, strict = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnnw*np|p", &data, &lo, &hi, &k, &out, &row, &f32, &strict)) return NULL;
    if (csv_check(&data, lo, hi, k, &out, f32, "csv_read") < 0) goto fail;
    rows = out.len / (f32 ? (Py_ssize_t)sizeof(float) : (Py_ssize_t)sizeof(double)) / k;
    if (row < 0 || row > rows) {
        PyErr_SetString(PyExc_ValueError, "csv_read: row is outside out");
        goto fail;
    }
    {
        const char *base = (const char *)data.buf, *p;
        Gil g = {NULL};
        gil_release(&g);
        p = (f32 ? csv_lines_f32 : csv_lines_f64)(&g, base + lo, base + hi, k, strict, (char *)out.buf, rows, &row);
        gil_take(&g);
        pos = p - base;
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return Py_BuildValue("nn", pos, row);
fail:
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return NULL;
}

PyDoc_STRVAR(count_newlines_doc,
             "count_newlines(data, lo, hi) -> int\n\n"
             "How many '\\n' bytes data[lo:hi] holds (bytes.count, without the GIL).");

static PyObject *count_newlines(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t lo, hi, n = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &lo, &hi)) return NULL;
    if (lo < 0 || hi > data.len || lo > hi) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "count_newlines: bad bounds");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const char *p = (const char *)data.buf + lo;
    const char *end = (const char *)data.buf + hi;
    /* 16 bytes compared at once (a memchr per line costs a call per line: 2 M calls for 6
     * MiB of short lines) */
#if SIMD
    const __m128i nl16 = _mm_set1_epi8('\n');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        n += __builtin_popcount((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl16)));
        p += 16;
    }
#endif
    for (; p < end; p++) n += *p == '\n';
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(n);
}

PyDoc_STRVAR(last_record_end_doc,
             "last_record_end(data, lo, hi) -> int\n\n"
             "The position after the last '\\n' of data[lo:hi] that ends a record when lo starts\n"
             "one: a '\\n' after an even number of '\"' from lo (a quoted field may hold line\n"
             "ends; \"\" inside one is an even pair); lo when there is none. Without the GIL, 16\n"
             "bytes at a time.");

static PyObject *last_record_end(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t lo, hi, last;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &lo, &hi)) return NULL;
    if (lo < 0 || hi > data.len || lo > hi) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "last_record_end: bad bounds");
        return NULL;
    }
    last = lo;
    Py_BEGIN_ALLOW_THREADS
    const char *base = (const char *)data.buf, *p = base + lo, *end = base + hi;
    int odd = 0; /* inside quotes */
#if SIMD
    const __m128i q16 = _mm_set1_epi8('"'), nl16 = _mm_set1_epi8('\n');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned qm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, q16));
        unsigned nm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl16));
        if (qm == 0) { /* no quote: every line end ends a record when outside quotes */
            if (!odd && nm) last = (p - base) + (31 - __builtin_clz(nm)) + 1;
        } else {
            int i;
            for (i = 0; i < 16; i++) {
                if (p[i] == '"')
                    odd ^= 1;
                else if (p[i] == '\n' && !odd)
                    last = (p - base) + i + 1;
            }
        }
        p += 16;
    }
#endif
    for (; p < end; p++) {
        if (*p == '"')
            odd ^= 1;
        else if (*p == '\n' && !odd)
            last = (p - base) + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(last);
}

/* ------------------------------------------------------------------------------------
 * CSV text fields: csv_text and text_rows
 * ------------------------------------------------------------------------------------ */

/* One field of a text record: its bytes (between the quotes when quoted) and whether a
 * doubled quote ("") inside them stands for one quote. */
typedef struct {
    const char *s;
    Py_ssize_t len;
    int escaped;
} TField;

/* Short fields seen (in a piece, or in every piece of a region when the caller passes its
 * cache, a list of a power of two slots), by a hash of their bytes: a field equal to one of
 * them takes that str again (a column of a few categories costs one str per category, not
 * one per record; the values are the same). */
#define TEXT_CACHE 1024
#define TEXT_CACHE_LEN 16

/* Where the second pass puts each field's text: flat[at++], as us-ascii when `ascii` (the
 * piece holds no byte >= 0x80) or UTF-8; buf unescapes "" (cap bytes); cache: NULL or
 * mask + 1 slots of str made from 2 to TEXT_CACHE_LEN bytes (or NULL or None): the sink's
 * own (`owned`, TEXT_CACHE slots) or the items of the caller's list (no Python code runs
 * while the second pass uses them: a slot that holds anything but a str or None is left as
 * it is). status: 0, or 1 (decline: bytes that are not UTF-8) or -1 (an exception) after a
 * field that failed. */
typedef struct {
    PyObject *flat;
    Py_ssize_t at;
    int ascii;
    char *buf;
    Py_ssize_t cap;
    int status;
    PyObject **cache;
    size_t mask;
    int owned;
    struct TShort *near;
} TSink;

/* The texts of 2 to 8 bytes that one call made last, by their bytes (`key`, the bytes
 * little end first, and `len`), in TEXT_NEAR direct-mapped entries of a few dozen KiB that
 * stay in the first-level cache: a text seen before in the call is found without a hash
 * over its bytes, a look into the caller's large slots or a decode. Each entry holds a
 * reference to its str (the caller's slots may drop theirs meanwhile). */
#define TEXT_NEAR_BITS 11
#define TEXT_NEAR (1 << TEXT_NEAR_BITS)
struct TShort {
    uint64_t key;
    Py_ssize_t len;
    PyObject *u;
};

/* The cache slot of a field's bytes (FNV-1a). */
static inline PyObject **text_slot(const TSink *sink, const char *s, Py_ssize_t len) {
    uint32_t h = 2166136261u;
    Py_ssize_t i;
    for (i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return &sink->cache[(h ^ (h >> 16)) & sink->mask];
}

/* Put u in a slot unless the slot holds something other than a str or None (whose release
 * could run Python code). */
static inline void text_keep(PyObject **slot, PyObject *u) {
    PyObject *old = *slot;
    if (old == NULL || old == Py_None || PyUnicode_CheckExact(old)) {
        Py_INCREF(u);
        *slot = u;
        Py_XDECREF(old);
    }
}

static int text_emit(TSink *sink, const TField *f);
static PyObject *text_make(TSink *sink, const TField *f);

/* Byte classes of the text tokenizer: 0 a plain byte, 1 ',', 2 '"', 3 '\r', 4 '\n',
 * 5 a byte >= 0x80. */
static unsigned char text_class[256];

static void text_class_init(void) {
    int c;
    for (c = 0x80; c < 256; c++) text_class[c] = 5;
    text_class[','] = 1;
    text_class['"'] = 2;
    text_class['\r'] = 3;
    text_class['\n'] = 4;
}

/* One record of exactly `width` fields at p, a line that is not blank, as the careful
 * reader (_csv_text.tokenize) reads it, within [p, end). The fields' text goes to `sink`
 * when it is not NULL (the second pass, over records the first pass checked); *high is set when a byte >= 0x80 is seen (and the record is declined when
 * `ascii`). A quoted field holds any bytes, line ends included, up to its closing quote
 * ("" is one quote). Returns the start of the record after it (end after the last one),
 * or NULL to decline: another number of fields, a '\r' outside quotes that is not right
 * before a '\n', a quote inside an unquoted field, an unterminated quoted field, anything
 * but ',' or the line end after a closing quote. Blank lines are the caller's. `fs`: NULL,
 * or `width` slots that take the record's fields (for a caller that makes them itself);
 * `lines`: NULL, or a count that each '\n' the record spans adds one to. */
static ALWAYS_INLINE const char *text_record(const char *p, const char *end, Py_ssize_t width, int ascii, int *high,
                               TSink *sink, TField *fs, Py_ssize_t *lines) {
    Py_ssize_t k = 0;
    for (;;) {
        TField f;
        if (p < end && *p == '"') {
            const char *s = ++p;
            f.escaped = 0;
            for (;;) {
                unsigned char c;
                if (p >= end) return NULL; /* no closing quote before the end */
                c = (unsigned char)*p;
                if (text_class[c] == 2) {
                    if (p + 1 < end && p[1] == '"') {
                        f.escaped = 1;
                        p += 2;
                        continue;
                    }
                    break;
                }
                if (text_class[c] == 5) {
                    if (ascii) return NULL;
                    *high = 1;
                } else if (c == '\n' && lines != NULL) {
                    (*lines)++;
                }
                p++; /* text, ',' and line ends alike: a quoted field may span lines */
            }
            f.s = s;
            f.len = p - s;
            p++; /* the closing quote */
            if (p < end && *p == '\r') {
                if (p + 1 < end && p[1] == '\n')
                    p++;
                else
                    return NULL;
            }
            if (k >= width) return NULL;
            if (sink != NULL && text_emit(sink, &f) < 0) return NULL;
            if (fs != NULL) fs[k] = f;
            k++;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p == end) break;
            if (*p == '\n') {
                if (lines != NULL) (*lines)++;
                p++;
                break;
            }
            return NULL;
        } else {
            const char *s = p;
            int cls = 4;
            while (p < end) {
                cls = text_class[(unsigned char)*p];
                if (cls == 0) {
                    p++;
                    continue;
                }
                if (cls == 5) {
                    if (ascii) return NULL;
                    *high = 1;
                    p++;
                    continue;
                }
                break;
            }
            if (p == end) cls = 4;
            if (cls == 2) return NULL;
            if (cls == 3 && !(p + 1 < end && p[1] == '\n')) return NULL;
            f.s = s;
            f.len = p - s;
            f.escaped = 0;
            if (k >= width) return NULL;
            if (sink != NULL && text_emit(sink, &f) < 0) return NULL;
            if (fs != NULL) fs[k] = f;
            k++;
            if (cls == 1) {
                p++;
                continue;
            }
            if (cls == 3) p++; /* the '\r' of "\r\n" */
            if (p < end) {      /* the '\n' */
                if (lines != NULL) (*lines)++;
                p++;
            }
            break;
        }
    }
    return k == width ? p : NULL;
}

/* The length of the blank line at p ("\n" or "\r\n": 1 or 2), 0 when the line at p is not
 * blank; -1 for a '\r' that ends [p, end) (declined, as the record reader does). */
static inline int text_blank(const char *p, const char *end) {
    if (*p == '\n') return 1;
    if (*p == '\r') {
        if (p + 1 == end) return -1;
        if (p[1] == '\n') return 2;
    }
    return 0;
}

/* A field's text (a new reference, the cache's str where it holds an equal one); NULL
 * (sink->status set: 1 for bytes that are not UTF-8, -1 for an exception) when it cannot
 * be made. */
static PyObject *text_make(TSink *sink, const TField *f) {
    const char *s = f->s;
    Py_ssize_t len = f->len;
    PyObject *u;
    struct TShort *e = NULL;
    uint64_t key = 0;
    if (f->escaped) { /* "" stands for one quote */
        Py_ssize_t i, j = 0;
        if (len > sink->cap) {
            char *nb = (char *)PyMem_Realloc(sink->buf, (size_t)len);
            if (nb == NULL) {
                PyErr_NoMemory();
                sink->status = -1;
                return NULL;
            }
            sink->buf = nb;
            sink->cap = len;
        }
        for (i = 0; i < len; i++) {
            sink->buf[j++] = s[i];
            if (s[i] == '"') i++;
        }
        s = sink->buf;
        len = j;
    }
    if (sink->near != NULL && len >= 2 && len <= 8) {
        Py_ssize_t i;
        for (i = 0; i < len; i++) key |= (uint64_t)(unsigned char)s[i] << (8 * i);
        e = &sink->near[((key + (uint64_t)len) * 0x9E3779B97F4A7C15ull) >> (64 - TEXT_NEAR_BITS)];
        if (e->u != NULL && e->key == key && e->len == len) {
            Py_INCREF(e->u);
            return e->u;
        }
    }
    if (sink->ascii) {
        if (len == 1) {
            u = PyUnicode_FromOrdinal((unsigned char)s[0]); /* a shared one */
        } else if (len >= 2 && len <= TEXT_CACHE_LEN && sink->cache != NULL) {
            PyObject **slot = text_slot(sink, s, len), *o = *slot;
            if (o != NULL && PyUnicode_CheckExact(o) && PyUnicode_IS_ASCII(o) && PyUnicode_GET_LENGTH(o) == len &&
                memcmp(PyUnicode_DATA(o), s, (size_t)len) == 0) {
                u = o;
                Py_INCREF(u);
            } else {
                u = PyUnicode_New(len, 127);
                if (u != NULL) {
                    memcpy(PyUnicode_DATA(u), s, (size_t)len);
                    text_keep(slot, u);
                }
            }
        } else {
            u = PyUnicode_New(len, 127);
            if (u != NULL && len) memcpy(PyUnicode_DATA(u), s, (size_t)len);
        }
    } else {
        u = PyUnicode_DecodeUTF8(s, len, NULL);
        if (u != NULL && len >= 2 && len <= TEXT_CACHE_LEN && sink->cache != NULL) {
            /* a short UTF-8 text: the str made (a few bytes, for a moment) is compared with
             * the one in its slot, which it becomes on a hit */
            PyObject **slot = text_slot(sink, s, len), *o = *slot;
            Py_ssize_t k = PyUnicode_GET_LENGTH(u);
            if (o != NULL && PyUnicode_CheckExact(o) && PyUnicode_GET_LENGTH(o) == k &&
                PyUnicode_KIND(o) == PyUnicode_KIND(u) &&
                memcmp(PyUnicode_DATA(o), PyUnicode_DATA(u), (size_t)(k * PyUnicode_KIND(u))) == 0) {
                Py_INCREF(o);
                Py_SETREF(u, o);
            } else {
                text_keep(slot, u);
            }
        }
    }
    if (u == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear();
            sink->status = 1;
        } else {
            sink->status = -1;
        }
    } else if (e != NULL) {
        PyObject *old = e->u;
        Py_INCREF(u);
        e->u = u;
        e->key = key;
        e->len = len;
        Py_XDECREF(old); /* (a str: no code runs) */
    }
    return u;
}

/* A field's text into the sink's list; -1 (sink->status set) when it cannot be made. */
static int text_emit(TSink *sink, const TField *f) {
    PyObject *u;
    if (sink->at >= PyList_GET_SIZE(sink->flat)) { /* the buffer changed under us */
        PyErr_SetString(PyExc_BufferError, "csv_text: the data changed while it was read");
        sink->status = -1;
        return -1;
    }
    u = text_make(sink, f);
    if (u == NULL) return -1;
    PyList_SET_ITEM(sink->flat, sink->at, u);
    sink->at++;
    return 0;
}

PyDoc_STRVAR(csv_text_doc,
             "csv_text(data, lo, hi, width, ascii, cache=None) -> list[str] | None\n\n"
             "The fields of the records of data[lo:hi] (lo a line start, hi a record end) as\n"
             "text, in one list, record after record (field j of record i at i * width + j):\n"
             "each record exactly `width` fields, as the careful reader reads them (fields split\n"
             "at ',', quoted fields holding any bytes up to the closing quote, line ends included,\n"
             "\"\" standing for one quote, '\\n' or '\\r\\n' line ends, blank lines skipped), decoded\n"
             "as us-ascii (ascii true) or UTF-8. None (declined) on anything else: another number\n"
             "of fields, a quote inside an unquoted field, a quoted field not closed, a byte after\n"
             "a closing quote other than ',' or the line end, a '\\r' outside quotes not right\n"
             "before a '\\n', bytes that are not text in the charset. The caller's careful reader\n"
             "then reads the region and positions any error. cache: None, or a list of a power\n"
             "of two slots (None or str) that the calls over the pieces of one region share: a\n"
             "field of 2 to 16 bytes equal to the str in its slot (by a hash of its bytes) takes\n"
             "that str, and a field that is not leaves its own there (without a cache, a short\n"
             "ascii field repeated within the piece is shared the same way).");

/* The str of each ASCII character (the interpreter's own, as PyUnicode_FromOrdinal gives
 * them), taken once when the module is made. */
static PyObject *ascii_char[128];

/* The sink's table of the texts of 2 to 8 bytes it made last, for a call of `fields`
 * fields (none for a few hundred: the table costs more than it saves); -1 on no memory. */
/* The sink's cache of short texts: the caller's `slots` slots of list `cache`, or where
 * there are none and the text is ASCII one of its own (freed with the sink); -1 with an
 * exception. */
static int sink_cache(TSink *sink, PyObject *cache, Py_ssize_t slots) {
    if (slots) {
        sink->cache = ((PyListObject *)cache)->ob_item;
        sink->mask = (size_t)slots - 1;
    } else if (sink->ascii) {
        sink->cache = (PyObject **)PyMem_Calloc(TEXT_CACHE, sizeof(PyObject *));
        if (sink->cache == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        sink->mask = TEXT_CACHE - 1;
        sink->owned = 1;
    }
    return 0;
}

static int text_near(TSink *sink, Py_ssize_t fields) {
    if (fields < 512) return 0;
    sink->near = (struct TShort *)PyMem_Calloc(TEXT_NEAR, sizeof(struct TShort));
    if (sink->near == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void text_sink_free(TSink *sink) {
    Py_ssize_t i;
    if (sink->near != NULL) {
        for (i = 0; i < TEXT_NEAR; i++) Py_XDECREF(sink->near[i].u);
        PyMem_Free(sink->near);
        sink->near = NULL;
    }
    if (sink->cache != NULL && sink->owned) {
        for (i = 0; i < TEXT_CACHE; i++) Py_XDECREF(sink->cache[i]);
        PyMem_Free(sink->cache);
    }
    sink->cache = NULL;
    PyMem_Free(sink->buf);
    sink->buf = NULL;
}

static PyObject *csv_text(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t lo, hi, width, n = 0, slots;
    int ascii, high = 0, ok = 1;
    PyObject *cache = Py_None;
    TSink sink = {NULL, 0, 0, NULL, 0, 0, NULL, 0, 0, NULL};
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnnp|O", &data, &lo, &hi, &width, &ascii, &cache)) return NULL;
    slots = cache != Py_None && PyList_CheckExact(cache) ? PyList_GET_SIZE(cache) : 0;
    if (lo < 0 || hi > data.len || lo > hi || width < 1 ||
        (cache != Py_None && (slots < 1 || (slots & (slots - 1)) != 0))) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError,
                        "csv_text: bad bounds or width, or a cache that is not a list of a power of two slots");
        return NULL;
    }
    {
        const char *base = (const char *)data.buf, *p = base + lo, *end = base + hi;
        /* Pass 1, without the GIL: check every record and count them. */
        Py_BEGIN_ALLOW_THREADS
        while (p < end) {
            int b = text_blank(p, end);
            if (b > 0) {
                p += b;
                continue;
            }
            if (b < 0) {
                ok = 0;
                break;
            }
            p = text_record(p, end, width, ascii, &high, NULL, NULL, NULL);
            if (p == NULL) {
                ok = 0;
                break;
            }
            n++;
        }
        Py_END_ALLOW_THREADS
        if (!ok) goto decline;
        if (n > PY_SSIZE_T_MAX / width) {
            PyErr_NoMemory();
            goto fail;
        }
        sink.flat = PyList_New(n * width);
        if (sink.flat == NULL) goto fail;
        sink.ascii = !high;
        if (slots) { /* the caller's slots; taken after PyList_New, which may run Python code */
            if (PyList_GET_SIZE(cache) != slots) {
                PyErr_SetString(PyExc_RuntimeError, "csv_text: the cache changed while it was read");
                goto fail;
            }
        }
        if (sink_cache(&sink, cache, slots) < 0 || text_near(&sink, n * width) < 0) goto fail;
        /* Pass 2: the fields' text, straight into the list. */
        p = base + lo;
        while (p < end) {
            int b = text_blank(p, end);
            if (b > 0) {
                p += b;
                continue;
            }
            /* sink.ascii: pass 1 saw no byte >= 0x80; another thread may have changed the
             * data since (pass 1 ran without the GIL): such a byte now declines (a BufferError
             * below) instead of going into a str made as us-ascii */
            p = text_record(p, end, width, ascii || sink.ascii, &high, &sink, NULL, NULL);
            if (p == NULL) {
                if (sink.status == 1) goto decline;
                if (sink.status == 0) /* the buffer changed under us */
                    PyErr_SetString(PyExc_BufferError, "csv_text: the data changed while it was read");
                goto fail;
            }
        }
        if (sink.at != n * width) {
            PyErr_SetString(PyExc_BufferError, "csv_text: the data changed while it was read");
            goto fail;
        }
    }
    text_sink_free(&sink);
    PyBuffer_Release(&data);
    return sink.flat;
decline:
    Py_XDECREF(sink.flat);
    text_sink_free(&sink);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(sink.flat);
    text_sink_free(&sink);
    PyBuffer_Release(&data);
    return NULL;
}

PyDoc_STRVAR(text_rows_doc,
             "text_rows(fields, width, start, stop, out, shared=None) -> None\n\n"
             "Fill out, a writable buffer of n Python object references (a numpy object array\n"
             "of n items), with one new list per record, fields[i * width + start : i * width +\n"
             "stop], from a list of n * width str (csv_text's records). The lists hold only str\n"
             "and are not tracked by the cyclic garbage collector (a list of str can be in no\n"
             "reference cycle; millions of tracked lists would make each collection walk them).\n"
             "shared: None, or a list of 129 slots: a one-field row (stop - start == 1) whose\n"
             "text is one ASCII character takes the list in the slot of that character (made\n"
             "there on first use, or when the slot holds anything but that character's one-item\n"
             "list), and a row whose texts are all empty the list in slot 128 (likewise: made\n"
             "when it holds anything but stop - start empty str), so that such records share\n"
             "one list per character, and one for the empty rows.");

#define SHARED_ROWS 129
#define SHARED_EMPTY 128

/* Put the new list `row` (a reference that this steals) into slot `slot` of `shared`, for
 * rows to share, and return a new reference to it; NULL with an exception (and `row`
 * dropped) when the slots changed meanwhile: making `row` may run a collection, and so
 * finalizers. The row is not tracked by the collector (it holds only str). */
static PyObject *store_shared(PyObject *shared, Py_ssize_t slot, PyObject *row) {
    PyObject *old;
    if (PyList_GET_SIZE(shared) != SHARED_ROWS) {
        Py_DECREF(row);
        PyErr_SetString(PyExc_RuntimeError, "text_rows: the shared rows changed while the rows were made");
        return NULL;
    }
    PyObject_GC_UnTrack(row);
    Py_INCREF(row);
    /* the slot's old object is dropped last: its finalizer, if any, sees the new slot */
    old = PyList_GET_ITEM(shared, slot);
    PyList_SET_ITEM(shared, slot, row);
    Py_XDECREF(old);
    return row;
}

/* The list that the one-field records of the ASCII character `ch` share, from slot ch of
 * `shared` (made there when the slot holds anything but [ch]); a new reference, or NULL
 * with an exception. */
static PyObject *shared_row(PyObject *shared, PyObject *u, Py_UCS4 ch) {
    PyObject *row, *item;
    if (PyList_GET_SIZE(shared) != SHARED_ROWS) { /* a finalizer run by the rows made before */
        PyErr_SetString(PyExc_RuntimeError, "text_rows: the shared rows changed while the rows were made");
        return NULL;
    }
    row = PyList_GET_ITEM(shared, ch);
    if (PyList_CheckExact(row) && PyList_GET_SIZE(row) == 1) {
        item = PyList_GET_ITEM(row, 0);
        if (item == u || (PyUnicode_CheckExact(item) && PyUnicode_GET_LENGTH(item) == 1 &&
                          PyUnicode_READ_CHAR(item, 0) == ch)) {
            Py_INCREF(row);
            return row;
        }
    }
    row = PyList_New(1);
    if (row == NULL) return NULL;
    Py_INCREF(u);
    PyList_SET_ITEM(row, 0, u);
    return store_shared(shared, ch, row);
}

/* The list that rows of k empty texts share, from slot SHARED_EMPTY of `shared` (made
 * there when the slot holds anything but k exact empty str); a new reference, or NULL with
 * an exception. */
static PyObject *shared_empty(PyObject *shared, Py_ssize_t k) {
    PyObject *have, *item;
    Py_ssize_t j;
    if (PyList_GET_SIZE(shared) != SHARED_ROWS) {
        PyErr_SetString(PyExc_RuntimeError, "text_rows: the shared rows changed while the rows were made");
        return NULL;
    }
    have = PyList_GET_ITEM(shared, SHARED_EMPTY);
    if (PyList_CheckExact(have) && PyList_GET_SIZE(have) == k) {
        for (j = 0; j < k; j++) {
            item = PyList_GET_ITEM(have, j);
            if (!PyUnicode_CheckExact(item) || PyUnicode_GET_LENGTH(item) != 0) break;
        }
        if (j == k) {
            Py_INCREF(have);
            return have;
        }
    }
    have = PyList_New(k);
    if (have == NULL) return NULL;
    for (j = 0; j < k; j++) {
        item = PyUnicode_New(0, 0); /* the empty str (no allocation) */
        if (item == NULL) {
            Py_DECREF(have); /* its slots after j are NULL: list_dealloc skips them */
            return NULL;
        }
        PyList_SET_ITEM(have, j, item);
    }
    return store_shared(shared, SHARED_EMPTY, have);
}

static PyObject *text_rows(PyObject *self, PyObject *args) {
    PyObject *fields, *target, *shared = Py_None;
    Py_buffer out;
    Py_ssize_t width, start, stop, n, i, j;
    PyObject **slots;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!nnnO|O", &PyList_Type, &fields, &width, &start, &stop, &target, &shared))
        return NULL;
    if (shared == Py_None) {
        shared = NULL;
    } else if (!PyList_CheckExact(shared) || PyList_GET_SIZE(shared) != SHARED_ROWS) {
        PyErr_SetString(PyExc_ValueError, "text_rows: shared must be None or a list of 129 slots");
        return NULL;
    }
    if (PyObject_GetBuffer(target, &out, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) return NULL;
    n = out.itemsize ? out.len / out.itemsize : 0;
    if (out.format == NULL || strcmp(out.format, "O") != 0 || out.itemsize != (Py_ssize_t)sizeof(PyObject *) ||
        width < 1 || start < 0 || start >= stop || stop > width || n > PY_SSIZE_T_MAX / width ||
        PyList_GET_SIZE(fields) != n * width) {
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError,
                        "text_rows: out must be an object array of n items, fields a list of n * width, "
                        "0 <= start < stop <= width");
        return NULL;
    }
    for (i = 0; i < n * width; i++) {
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(fields, i))) {
            PyBuffer_Release(&out);
            PyErr_SetString(PyExc_TypeError, "text_rows: the fields must be str only");
            return NULL;
        }
    }
    slots = (PyObject **)out.buf;
    for (i = 0; i < n; i++) {
        PyObject *row = NULL, *old;
        if (shared != NULL) {
            PyObject *u = PyList_GET_ITEM(fields, i * width + start);
            if (!PyUnicode_CheckExact(u)) {
                /* (a finalizer changed the fields: the loop below says so) */
            } else if (stop - start == 1 && PyUnicode_GET_LENGTH(u) == 1 && PyUnicode_READ_CHAR(u, 0) < 128) {
                row = shared_row(shared, u, PyUnicode_READ_CHAR(u, 0));
                if (row == NULL) {
                    PyBuffer_Release(&out);
                    return NULL;
                }
            } else if (PyUnicode_GET_LENGTH(u) == 0) {
                for (j = start + 1; j < stop; j++) {
                    PyObject *t = PyList_GET_ITEM(fields, i * width + j);
                    if (!PyUnicode_CheckExact(t) || PyUnicode_GET_LENGTH(t) != 0) break;
                }
                if (j >= stop) {
                    row = shared_empty(shared, stop - start);
                    if (row == NULL) {
                        PyBuffer_Release(&out);
                        return NULL;
                    }
                }
            }
        }
        if (row == NULL) {
            row = PyList_New(stop - start);
            if (row == NULL) {
                PyBuffer_Release(&out);
                return NULL;
            }
            /* PyList_New and the Py_XDECREF of a replaced slot can run Python code (a
             * finalizer, a collection) that changes `fields`: check it again before reading it */
            if (PyList_GET_SIZE(fields) != n * width) {
                Py_DECREF(row);
                PyBuffer_Release(&out);
                PyErr_SetString(PyExc_RuntimeError, "text_rows: the fields changed while the rows were made");
                return NULL;
            }
            for (j = start; j < stop; j++) {
                PyObject *u = PyList_GET_ITEM(fields, i * width + j);
                if (!PyUnicode_CheckExact(u)) {
                    Py_DECREF(row); /* its slots after j - start are NULL: list_dealloc skips them */
                    PyBuffer_Release(&out);
                    PyErr_SetString(PyExc_RuntimeError, "text_rows: the fields changed while the rows were made");
                    return NULL;
                }
                Py_INCREF(u);
                PyList_SET_ITEM(row, j - start, u);
            }
            PyObject_GC_UnTrack(row);
        }
        old = slots[i];
        slots[i] = row;
        Py_XDECREF(old);
        /* that may have run a finalizer too (the loop reads fields[i * width + start] first) */
        if (PyList_GET_SIZE(fields) != n * width) {
            PyBuffer_Release(&out);
            PyErr_SetString(PyExc_RuntimeError, "text_rows: the fields changed while the rows were made");
            return NULL;
        }
    }
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(csv_text_rows_doc,
             "csv_text_rows(data, lo, hi, width, ascii, cache, out, at, shared) -> (n, lines) | None\n\n"
             "csv_text and text_rows in one pass, for a block of lists of every field: the n\n"
             "records of data[lo:hi] (lo a line start, hi a record end), each exactly `width`\n"
             "fields as csv_text reads them, become n lists of their texts in out[at : at + n]\n"
             "(out: a writable buffer of Python object references, a numpy object array, whose\n"
             "slots from `at` hold None), the lists those text_rows(fields, width, 0, width, ...)\n"
             "makes, shared rows included (shared: None or text_rows' 129 slots, each None or a\n"
             "list of str), and the same\n"
             "str (cache: None or text_cache's slots, as csv_text uses them). Returns n and the\n"
             "'\\n' bytes of data[lo:hi], or None (declined, out left as it was) where csv_text\n"
             "declines or out has fewer than n slots from `at`. The collector is paused while\n"
             "the lists are made (so that no Python code runs while the cache's slots are used).");

static PyObject *csv_text_rows(PyObject *self, PyObject *args) {
    Py_buffer data, out;
    Py_ssize_t lo, hi, width, at, n = 0, lines = 0, slots = 0, nslots, i, j, made = 0;
    int ascii, high = 0, ok = 1, gc_was = 0, declined = 0;
    PyObject *cache, *target, *shared, **refs, **dst;
    TField *fs = NULL;
    PyObject **us = NULL;
    TSink sink = {NULL, 0, 0, NULL, 0, 0, NULL, 0, 0, NULL};
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnnpOOnO", &data, &lo, &hi, &width, &ascii, &cache, &target, &at, &shared))
        return NULL;
    if (shared == Py_None) {
        shared = NULL;
    } else if (!PyList_CheckExact(shared) || PyList_GET_SIZE(shared) != SHARED_ROWS) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "csv_text_rows: shared must be None or a list of 129 slots");
        return NULL;
    }
    slots = cache != Py_None && PyList_CheckExact(cache) ? PyList_GET_SIZE(cache) : 0;
    if (lo < 0 || hi > data.len || lo > hi || width < 1 ||
        (cache != Py_None && (slots < 1 || (slots & (slots - 1)) != 0))) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError,
                        "csv_text_rows: bad bounds or width, or a cache that is not a list of a power of two slots");
        return NULL;
    }
    if (PyObject_GetBuffer(target, &out, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    nslots = out.itemsize ? out.len / out.itemsize : 0;
    if (out.format == NULL || strcmp(out.format, "O") != 0 || out.itemsize != (Py_ssize_t)sizeof(PyObject *) ||
        at < 0 || at > nslots) {
        PyErr_SetString(PyExc_ValueError, "csv_text_rows: out must be an object array and 0 <= at <= its length");
        goto fail;
    }
    {
        const char *base = (const char *)data.buf, *p = base + lo, *end = base + hi;
        /* Pass 1, without the GIL: check every record, count them and the line ends. */
        Py_BEGIN_ALLOW_THREADS
        while (p < end) {
            int b = text_blank(p, end);
            if (b > 0) {
                p += b;
                lines++;
                continue;
            }
            if (b < 0) {
                ok = 0;
                break;
            }
            p = text_record(p, end, width, ascii, &high, NULL, NULL, &lines);
            if (p == NULL) {
                ok = 0;
                break;
            }
            n++;
        }
        Py_END_ALLOW_THREADS
        if (!ok || n > nslots - at) goto decline;
        /* (checked with the GIL held again: other threads ran while pass 1 did) */
        refs = (PyObject **)out.buf + at;
        for (i = 0; i < n; i++) {
            if (refs[i] != Py_None) {
                PyErr_SetString(PyExc_ValueError, "csv_text_rows: the slots of out from `at` must hold None");
                goto fail;
            }
        }
        if (slots && PyList_GET_SIZE(cache) != slots) {
            PyErr_SetString(PyExc_RuntimeError, "csv_text_rows: the cache changed while it was read");
            goto fail;
        }
        /* a slot of `shared` that the rows replace is dropped while the cache's slots are in
         * use: it may hold only what drops without running code (None, or a list of str) */
        for (i = 0; shared != NULL && i < SHARED_ROWS; i++) {
            PyObject *row = PyList_GET_ITEM(shared, i);
            int ok_row = row == Py_None || PyList_CheckExact(row);
            for (j = 0; ok_row && row != Py_None && j < PyList_GET_SIZE(row); j++)
                ok_row = PyUnicode_CheckExact(PyList_GET_ITEM(row, j));
            if (!ok_row) {
                PyErr_SetString(PyExc_ValueError, "csv_text_rows: the slots of shared must hold None or lists of str");
                goto fail;
            }
        }
        fs = (TField *)PyMem_Malloc((size_t)width * sizeof(TField));
        us = (PyObject **)PyMem_Calloc((size_t)width, sizeof(PyObject *));
        if (fs == NULL || us == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        sink.ascii = !high;
        if (sink_cache(&sink, cache, slots) < 0 || text_near(&sink, n * width) < 0) goto fail;
        /* Pass 2: the lists. The collector is paused: no collection (and no finalizer) runs
         * while the lists are made, so no Python code changes the cache, `shared` or out. */
        gc_was = PyGC_Disable();
        p = base + lo;
        dst = refs;
        while (p < end) {
            PyObject *row = NULL;
            int b = text_blank(p, end);
            if (b > 0) {
                p += b;
                continue;
            }
            if (dst - refs >= n) { /* the buffer changed under us */
                PyErr_SetString(PyExc_BufferError, "csv_text_rows: the data changed while it was read");
                goto fail;
            }
            p = text_record(p, end, width, ascii || sink.ascii, &high, NULL, fs, NULL);
            if (p == NULL) {
                PyErr_SetString(PyExc_BufferError, "csv_text_rows: the data changed while it was read");
                goto fail;
            }
            for (j = 0; j < width; j++) {
                if (fs[j].len == 1 && (unsigned char)*fs[j].s < 128) { /* (one byte: never escaped) */
                    us[j] = ascii_char[(unsigned char)*fs[j].s];
                    Py_INCREF(us[j]);
                    continue;
                }
                us[j] = text_make(&sink, &fs[j]);
                if (us[j] == NULL) {
                    if (sink.status == 1) goto decline;
                    goto fail;
                }
            }
            if (shared != NULL) {
                if (width == 1 && PyUnicode_GET_LENGTH(us[0]) == 1 && PyUnicode_READ_CHAR(us[0], 0) < 128) {
                    row = shared_row(shared, us[0], PyUnicode_READ_CHAR(us[0], 0));
                    if (row == NULL) goto fail;
                } else if (PyUnicode_GET_LENGTH(us[0]) == 0) {
                    for (j = 1; j < width && PyUnicode_GET_LENGTH(us[j]) == 0; j++) {
                    }
                    if (j == width) {
                        row = shared_empty(shared, width);
                        if (row == NULL) goto fail;
                    }
                }
            }
            if (row != NULL) {
                for (j = 0; j < width; j++) Py_CLEAR(us[j]);
            } else {
                row = PyList_New(width);
                if (row == NULL) goto fail;
                for (j = 0; j < width; j++) {
                    PyList_SET_ITEM(row, j, us[j]); /* (the reference moves to the row) */
                    us[j] = NULL;
                }
                PyObject_GC_UnTrack(row);
            }
            *dst++ = row; /* (the None there is released at the end) */
            made++;
        }
        if (made != n) {
            PyErr_SetString(PyExc_BufferError, "csv_text_rows: the data changed while it was read");
            goto fail;
        }
    }
    if (gc_was) PyGC_Enable();
    for (i = 0; i < made; i++) Py_DECREF(Py_None);
    PyMem_Free(fs);
    PyMem_Free(us);
    text_sink_free(&sink);
    PyBuffer_Release(&out);
    PyBuffer_Release(&data);
    return Py_BuildValue("nn", n, lines);
decline:
    declined = 1;
fail:
    /* the rows made so far go, and their slots hold None again */
    for (i = 0; i < made; i++) {
        PyObject *row = ((PyObject **)out.buf)[at + i];
        ((PyObject **)out.buf)[at + i] = Py_None;
        Py_DECREF(row);
    }
    if (us != NULL)
        for (j = 0; j < width; j++) Py_CLEAR(us[j]);
    if (gc_was) PyGC_Enable();
    PyMem_Free(fs);
    PyMem_Free(us);
    text_sink_free(&sink);
    PyBuffer_Release(&out);
    PyBuffer_Release(&data);
    if (declined) Py_RETURN_NONE;
    return NULL;
}

/* ------------------------------------------------------------------------------------
 * CSV writing
 * ------------------------------------------------------------------------------------ */

#if SWAR
/* The high bit of each byte of v that is a comma, exactly (no borrow between bytes). */
static inline uint64_t comma_mask(uint64_t v) {
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL;
    uint64_t x = v ^ 0x2C2C2C2C2C2C2C2CULL; /* a zero byte where v has a comma */
    return ~(((x & low7) + low7) | x | low7);
}

/* The commas of one block of dst, one bit of m each (the comma at byte j is the bit whose
 * index >> shift is j): counted on from *count, and the k-th since the last newline becomes
 * one. */
static inline void mark_rows(char *dst, uint64_t m, int shift, Py_ssize_t k, Py_ssize_t *count) {
    Py_ssize_t c = *count, pc = __builtin_popcountll(m);
    if (c + pc < k) {
        *count = c + pc;
        return;
    }
    while (m) {
        if (++c == k) {
            dst[__builtin_ctzll(m) >> shift] = '\n';
            c = 0;
        }
        m &= m - 1;
    }
    *count = c;
}
#endif

/* Copy src[0:len] to dst, turning every k-th comma into a newline, counting on from *count
 * commas (the commas since the last newline); *count is left at the commas after the last
 * newline. One pass: each block of bytes is loaded once, stored, and its commas counted
 * from a bit mask (16 bytes at a time with SSE2, 8 with plain 64-bit words). */
static void copy_rows(char *dst, const char *src, Py_ssize_t len, Py_ssize_t k, Py_ssize_t *count) {
    Py_ssize_t c = *count, i = 0;
#if SWAR && SIMD
    const __m128i commas = _mm_set1_epi8(',');
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, commas));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), v);
        if (m) mark_rows(dst + i, m, 0, k, &c);
    }
#elif SWAR
    for (; i + 8 <= len; i += 8) {
        uint64_t v = load8(src + i), m = comma_mask(v);
        memcpy(dst + i, &v, 8);
        if (m) mark_rows(dst + i, m, 3, k, &c);
    }
#endif
    for (; i < len; i++) {
        char ch = src[i];
        if (ch == ',' && ++c == k) {
            ch = '\n';
            c = 0;
        }
        dst[i] = ch;
    }
    *count = c;
}

/* The position just after the n-th comma of p[0:end - p] (p itself for n == 0), or NULL
 * when there are fewer. */
static const char *skip_commas(const char *p, const char *end, Py_ssize_t n) {
    if (n == 0) return p;
#if SWAR
    for (; end - p >= 8; p += 8) {
        uint64_t m = comma_mask(load8(p));
        int pc = __builtin_popcountll(m);
        if (pc < n) {
            n -= pc;
            continue;
        }
        while (--n) m &= m - 1; /* keep the n-th comma's bit lowest */
        return p + (__builtin_ctzll(m) >> 3) + 1;
    }
#endif
    for (; p < end; p++)
        if (*p == ',' && --n == 0) return p + 1;
    return NULL;
}

typedef struct {
    Py_ssize_t at;  /* index of the value whose token is replaced */
    Py_ssize_t off; /* the replacement: text[off:off + len] of the call's copy of the texts */
    Py_ssize_t len;
} Sub;

/* One piece's inner text s[0:len] (no brackets) written at *o as CSV rows of k values,
 * the tokens of subs[0:nsub] replaced. 0 when the commas do not make whole rows. */
static int piece_rows(const char *s, Py_ssize_t len, const Sub *subs, Py_ssize_t nsub, const char *text,
                      Py_ssize_t k, char **o) {
    const char *pos = s, *end = s + len;
    char *w = *o;
    Py_ssize_t count = 0, tok = 0, j;
    for (j = 0; j < nsub; j++) {
        const char *q = skip_commas(pos, end, subs[j].at - tok), *te;
        Py_ssize_t n;
        if (q == NULL) return 0;
        n = q - pos;
        copy_rows(w, pos, n, k, &count);
        w += n;
        te = (const char *)memchr(q, ',', (size_t)(end - q));
        if (te == NULL) te = end;
        if (subs[j].len > 0) {
            memcpy(w, text + subs[j].off, (size_t)subs[j].len);
            w += subs[j].len;
        }
        pos = te;
        tok = subs[j].at;
    }
    copy_rows(w, pos, end - pos, k, &count);
    w += end - pos;
    *o = w;
    /* whole rows: the last one ends k - 1 commas after the last newline */
    return count == k - 1;
}

/* A growing copy of the calls' replacement texts (the caller's lists may change while the
 * GIL is released; the copy cannot). */
typedef struct {
    Sub *subs;
    Py_ssize_t nsub, cap;
    char *text;
    Py_ssize_t used, text_cap;
} Subs;

static int grow(void **p, Py_ssize_t *cap, Py_ssize_t want, Py_ssize_t item) {
    void *grown;
    if (want <= *cap) return 1;
    if (want > PY_SSIZE_T_MAX / 2 / item) return 0;
    want *= 2;
    grown = PyMem_Realloc(*p, (size_t)(want * item));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *p = grown;
    *cap = want;
    return 1;
}

/* The replacements of one piece from (indices, texts), appended to *S; -1 with an
 * exception set, 0 to decline (not strictly increasing, not bytes, a comma or newline in
 * a text), 1 when read. */
static int read_subs(PyObject *item, Subs *S) {
    PyObject *idx, *txt;
    Py_ssize_t m, i, prev = -1;
    int r;
    if (item == Py_None) return 1;
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) return 0;
    idx = PyTuple_GET_ITEM(item, 0);
    txt = PyTuple_GET_ITEM(item, 1);
    if (!PyList_Check(idx) || !PyList_Check(txt) || PyList_GET_SIZE(idx) != PyList_GET_SIZE(txt)) return 0;
    m = PyList_GET_SIZE(idx);
    if ((r = grow((void **)&S->subs, &S->cap, S->nsub + m, (Py_ssize_t)sizeof(Sub))) <= 0) return r;
    for (i = 0; i < m; i++) {
        PyObject *t = PyList_GET_ITEM(txt, i);
        Py_ssize_t at = PyLong_AsSsize_t(PyList_GET_ITEM(idx, i)), len;
        Sub *sub = S->subs + S->nsub;
        const char *s;
        if (at == -1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError) && !PyErr_ExceptionMatches(PyExc_TypeError))
                return -1;
            PyErr_Clear();
            return 0;
        }
        if (at <= prev || !PyBytes_Check(t)) return 0;
        s = PyBytes_AS_STRING(t);
        len = PyBytes_GET_SIZE(t);
        if (memchr(s, ',', (size_t)len) || memchr(s, '\n', (size_t)len)) return 0;
        if (S->used > PY_SSIZE_T_MAX / 4 - len) return 0;
        if ((r = grow((void **)&S->text, &S->text_cap, S->used + len, 1)) <= 0) return r;
        if (len > 0) memcpy(S->text + S->used, s, (size_t)len);
        sub->at = at;
        sub->off = S->used;
        sub->len = len;
        S->used += len;
        S->nsub++;
        prev = at;
    }
    return 1;
}

PyDoc_STRVAR(csv_rows_doc,
             "csv_rows(pieces, k, subs) -> bytes | None\n\n"
             "CSV text from JSON arrays of numbers. Each piece is the text of a flat JSON array\n"
             "('[t0,t1,...]', bytes) of whole rows of k values; subs[i] is None or a tuple of two\n"
             "lists (value indices, strictly increasing; bytes) whose tokens in piece i are\n"
             "replaced by those texts. The result is the pieces without their brackets, joined\n"
             "by '\\n', with every k-th comma turned into '\\n'. None (declined) when a piece is\n"
             "not bracketed, its commas do not make whole rows, or subs are not as described.");

static PyObject *csv_rows(PyObject *self, PyObject *args) {
    PyObject *pieces_arg, *subs_arg, *pieces = NULL, *subs_t = NULL, *out = NULL;
    Py_ssize_t k, n, i, total = 0, written = 0;
    Subs S = {NULL, 0, 0, NULL, 0, 0};
    Py_ssize_t *first = NULL; /* first[i]: piece i's first entry in S.subs; first[n]: S.nsub */
    int ok = 1, r;
    (void)self;
    if (!PyArg_ParseTuple(args, "OnO", &pieces_arg, &k, &subs_arg)) return NULL;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "csv_rows: k must be at least 1");
        return NULL;
    }
    /* The tuple owns a reference to every piece (immutable bytes) while the GIL is released. */
    pieces = PySequence_Tuple(pieces_arg);
    if (pieces == NULL) goto fail;
    subs_t = PySequence_Tuple(subs_arg);
    if (subs_t == NULL) goto fail;
    n = PyTuple_GET_SIZE(pieces);
    if (n == 0 || PyTuple_GET_SIZE(subs_t) != n) goto decline;
    first = (Py_ssize_t *)PyMem_Malloc((size_t)(n + 1) * sizeof(Py_ssize_t));
    if (first == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *piece = PyTuple_GET_ITEM(pieces, i);
        Py_ssize_t len;
        const char *s;
        if (!PyBytes_Check(piece)) goto decline;
        len = PyBytes_GET_SIZE(piece);
        s = PyBytes_AS_STRING(piece);
        if (len < 3 || s[0] != '[' || s[len - 1] != ']' || total > PY_SSIZE_T_MAX / 4 - len) goto decline;
        total += len - 2 + (i > 0);
        first[i] = S.nsub;
        r = read_subs(PyTuple_GET_ITEM(subs_t, i), &S);
        if (r < 0) goto fail;
        if (r == 0) goto decline;
    }
    first[n] = S.nsub;
    /* A replaced token leaves at least nothing behind: total + S.used bounds the output. */
    out = PyBytes_FromStringAndSize(NULL, total + S.used);
    if (out == NULL) goto fail;
    Py_BEGIN_ALLOW_THREADS
    char *o = PyBytes_AS_STRING(out);
    for (i = 0; i < n && ok; i++) {
        PyObject *piece = PyTuple_GET_ITEM(pieces, i);
        if (i > 0) *o++ = '\n';
        ok = piece_rows(PyBytes_AS_STRING(piece) + 1, PyBytes_GET_SIZE(piece) - 2, S.subs + first[i],
                        first[i + 1] - first[i], S.text, k, &o);
    }
    written = o - PyBytes_AS_STRING(out);
    Py_END_ALLOW_THREADS
    if (!ok) goto decline;
    if (written < total + S.used && _PyBytes_Resize(&out, written) < 0) goto fail; /* out is NULL */
    r = 1;
    goto done;
decline:
    r = 0;
    goto done;
fail:
    r = -1;
done:
    if (r != 1) Py_CLEAR(out);
    Py_XDECREF(pieces);
    Py_XDECREF(subs_t);
    PyMem_Free(S.subs);
    PyMem_Free(S.text);
    PyMem_Free(first);
    if (r == 0) Py_RETURN_NONE;
    return out; /* NULL with the exception set when r < 0 */
}

/* ------------------------------------------------------------------------------------
 * numbers: smp_number over a column of numbers, one per line (the number columns of the
 * CSV text reader and of the Autopilot readers, and the tests of the converter)
 * ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(numbers_doc,
             "numbers(data, grammar, f32) -> bytes | None\n\n"
             "Read data as numbers separated by single '\\n' bytes, each line exactly one number\n"
             "of the grammar (0: CSV, 1: JSON) and nothing else, with smp_number (_cnumber.h).\n"
             "Returns the values packed as native float64 (float32 when f32 is true), or None\n"
             "when any line is not a number (or, in the JSON grammar, is beyond the type's range).");

static PyObject *numbers(PyObject *self, PyObject *args) {
    Py_buffer data;
    int grammar, f32;
    PyObject *out = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*ip", &data, &grammar, &f32)) return NULL;
    if (grammar != SMP_CSV && grammar != SMP_JSON) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "numbers: grammar must be 0 (CSV) or 1 (JSON)");
        return NULL;
    }
    {
        const char *p = (const char *)data.buf, *end = p + data.len, *s;
        const size_t width = f32 ? sizeof(float) : sizeof(double);
        Py_ssize_t n = 1;
        int ok = 1;
        for (s = p; s < end; s++) n += *s == '\n';
        out = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)width);
        if (out != NULL) {
            char *o = PyBytes_AS_STRING(out);
            Gil g = {NULL};
            gil_release(&g);
            const char *oend = o + n * (Py_ssize_t)width;
            for (;;) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                const char *q;
                if (eol == NULL) eol = end;
                if (o == oend) {
                    /* more lines than counted: a bytearray changed while the GIL was
                     * released (declined, never written past the output) */
                    ok = 0;
                    break;
                }
                /* the whole buffer as the limit: the number must stop at the line's end */
                q = smp_number(&g, p, end, grammar, f32, o);
                if (q != eol) {
                    ok = 0;
                    break;
                }
                o += width;
                if (eol == end) break;
                p = eol + 1;
            }
            gil_take(&g);
            if (!ok) Py_CLEAR(out);
        }
        PyBuffer_Release(&data);
        if (out == NULL && ok) return NULL;
        if (!ok) Py_RETURN_NONE;
    }
    return out;
}

/* ------------------------------------------------------------------------------------
 * Bracketed number lists, one per line
 * ------------------------------------------------------------------------------------ */

/* The bytes a number of number_lists is made of. */
static inline int list_number_byte(unsigned char c) {
    return is_digit(c) || c == '.' || c == '+' || c == '-' || c == 'e' || c == 'E';
}

PyDoc_STRVAR(number_lists_doc,
             "number_lists(data, n) -> (values, counts) | None\n\n"
             "Read data as n lines separated by single '\\n' bytes, each a bracketed list of one or\n"
             "more numbers separated by ',' ('[0.4, 0.6]'), where blanks (' ' only) may stand\n"
             "around the brackets and the items, and each item is a run of the bytes\n"
             "0-9 + - . e E that is one number of the CSV grammar. Returns the values as native\n"
             "float64 and one int64 count per line (two bytes objects), or None when the text is\n"
             "anything else (another number of lines, an empty list or item, another byte).");

static PyObject *number_lists(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t n, cap = 0, nv = 0, line = 0;
    PyObject *values = NULL, *counts = NULL, *res = NULL;
    const char *p, *end;
    double *v;
    int64_t *c;
    Gil g = {NULL};
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &data, &n)) return NULL;
    p = (const char *)data.buf;
    end = p + data.len;
    if (n < 1 || n > data.len) goto none; /* a line holds at least "[0]" */
    {
        const char *s;
        Py_ssize_t lines = 1;
        for (s = p; s < end; s++) {
            cap += *s == ',';
            lines += *s == '\n';
        }
        if (lines != n) goto none;
        cap += n; /* an item starts after each '[' or ',' */
    }
    values = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(double));
    counts = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (values == NULL || counts == NULL) goto done;
    v = (double *)PyBytes_AS_STRING(values);
    c = (int64_t *)PyBytes_AS_STRING(counts);
    /* the GIL stays held: the buffer cannot change while it is read */
    for (line = 0; line < n; line++) {
        Py_ssize_t k = 0;
        while (p < end && *p == ' ') p++;
        if (p >= end || *p != '[') goto none;
        p++;
        for (;;) {
            const char *t;
            while (p < end && *p == ' ') p++;
            for (t = p; t < end && list_number_byte((unsigned char)*t); t++) {
            }
            if (t == p || nv >= cap || smp_number(&g, p, t, SMP_CSV, 0, v + nv) != t) goto none;
            nv++;
            k++;
            p = t;
            while (p < end && *p == ' ') p++;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']') break;
            goto none;
        }
        p++;
        while (p < end && *p == ' ') p++;
        c[line] = k;
        if (line < n - 1) {
            if (p >= end || *p != '\n') goto none;
            p++;
        } else if (p != end) {
            goto none;
        }
    }
    if (_PyBytes_Resize(&values, nv * (Py_ssize_t)sizeof(double)) < 0) goto done;
    res = Py_BuildValue("(OO)", values, counts);
    goto done;
none:
    res = Py_None;
    Py_INCREF(res);
done:
    Py_XDECREF(values);
    Py_XDECREF(counts);
    PyBuffer_Release(&data);
    return res;
}

/* ------------------------------------------------------------------------------------
 * Columns of one-line CSV records
 * ------------------------------------------------------------------------------------ */

/* The first ',', '\n' or '"' in a[p:size), or size. */
static inline Py_ssize_t csv_stop(const char *a, Py_ssize_t p, Py_ssize_t size) {
#if SIMD
    const __m128i comma = _mm_set1_epi8(','), nl = _mm_set1_epi8('\n'), quote = _mm_set1_epi8('"');
    while (size - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(a + p));
        int m = _mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, nl)), _mm_cmpeq_epi8(v, quote)));
        if (m) return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (p < size && a[p] != ',' && a[p] != '\n' && a[p] != '"') p++;
    return p;
}

/* Appends a[fa:fb) (and a '\n' before it unless it is the column's first field) to the
 * bytes object *col whose first *at bytes are written, growing it by doubling. */
static int csv_put(PyObject **col, Py_ssize_t *at, int first, const char *a, Py_ssize_t fa, Py_ssize_t fb) {
    Py_ssize_t need = *at + (fb - fa) + 1;
    if (need > PyBytes_GET_SIZE(*col)) {
        Py_ssize_t cap = PyBytes_GET_SIZE(*col);
        while (cap < need) cap = cap > PY_SSIZE_T_MAX / 2 ? need : 2 * cap;
        if (_PyBytes_Resize(col, cap) < 0) return -1;
    }
    if (!first) PyBytes_AS_STRING(*col)[(*at)++] = '\n';
    memcpy(PyBytes_AS_STRING(*col) + *at, a + fa, (size_t)(fb - fa));
    *at += fb - fa;
    return 0;
}

/* The records of a[0:size) into cols[0:width) (bytes objects, grown as needed; at: the
 * bytes written to each). Returns the records, -1 when the body is not of csv_columns'
 * shape, -2 with an exception (memory). */
static Py_ssize_t csv_columns_read(const char *a, Py_ssize_t size, Py_ssize_t width, PyObject **cols,
                                   Py_ssize_t *at) {
    Py_ssize_t pos = 0, n = 0, j = 0;
    for (;;) {
        Py_ssize_t fa, fb, next;
        if (pos < size && a[pos] == '"') {
            const char *q = (const char *)memchr(a + pos + 1, '"', (size_t)(size - pos - 1));
            if (q == NULL) return -1;
            fa = pos + 1;
            fb = q - a;
            /* not "" (empty, or an escaped quote), no line end inside, a separator after */
            if (fb == fa || memchr(a + fa, '\n', (size_t)(fb - fa)) != NULL) return -1;
            next = fb + 1;
            if (next < size && a[next] != ',' && a[next] != '\n') return -1;
        } else {
            fa = pos;
            next = fb = csv_stop(a, pos, size);
            if (next < size && a[next] == '"') return -1; /* a quote inside an unquoted field */
        }
        if (j >= width) return -1;
        if (csv_put(&cols[j], &at[j], n == 0, a, fa, fb) < 0) return -2;
        if (next < size && a[next] == ',') {
            j++;
            pos = next + 1;
            continue;
        }
        if (j != width - 1) return -1; /* a record of another width */
        n++;
        if (next >= size) return n;
        /* a '\n': the next record starts after it, and is not blank */
        pos = next + 1;
        if (pos >= size || a[pos] == '\n') return -1;
        j = 0;
    }
}

PyDoc_STRVAR(csv_columns_doc,
             "csv_columns(data, lo, width) -> (n, [bytes, ...]) | None\n\n"
             "The records of data[lo:] as `width` columns, each column's fields joined by '\\n'\n"
             "(quotes removed): None unless every record is one line of exactly `width` fields,\n"
             "'\\n' line ends (no '\\r' anywhere, no blank line; one '\\n' may end the body) and\n"
             "each field is unquoted (no '\"') or quoted whole, without \"\" or a line end inside.");

static PyObject *csv_columns(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t lo, width, size, n, j, *at = NULL;
    const char *a;
    PyObject **cols = NULL, *list = NULL, *res = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &lo, &width)) return NULL;
    if (lo < 0 || lo > data.len || width < 1 || width > data.len + 1) {
        PyBuffer_Release(&data);
        if (width >= 1 && lo >= 0 && lo <= data.len) Py_RETURN_NONE; /* more columns than bytes */
        PyErr_SetString(PyExc_ValueError, "csv_columns: bad arguments");
        return NULL;
    }
    a = (const char *)data.buf + lo;
    size = data.len - lo;
    if (size > 0 && a[size - 1] == '\n') size--; /* the last line end */
    if (size <= 0 || a[0] == '\n' || memchr(a, '\r', (size_t)(data.len - lo)) != NULL) goto none;
    at = (Py_ssize_t *)calloc((size_t)width, sizeof(Py_ssize_t));
    cols = (PyObject **)calloc((size_t)width, sizeof(PyObject *));
    if (at == NULL || cols == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (j = 0; j < width; j++) {
        cols[j] = PyBytes_FromStringAndSize(NULL, size / width + 16);
        if (cols[j] == NULL) goto done;
    }
    /* the GIL stays held: the buffer cannot change while it is read */
    n = csv_columns_read(a, size, width, cols, at);
    if (n == -2) goto done;
    if (n < 0) goto none;
    list = PyList_New(width);
    if (list == NULL) goto done;
    for (j = 0; j < width; j++) {
        if (_PyBytes_Resize(&cols[j], at[j]) < 0) goto done;
        PyList_SET_ITEM(list, j, cols[j]);
        cols[j] = NULL;
    }
    res = Py_BuildValue("(nN)", n, list);
    list = NULL;
    goto done;
none:
    res = Py_None;
    Py_INCREF(res);
done:
    Py_XDECREF(list);
    if (cols != NULL)
        for (j = 0; j < width; j++) Py_XDECREF(cols[j]);
    free(at);
    free(cols);
    PyBuffer_Release(&data);
    return res;
}

static PyMethodDef methods[] = {
    {"csv_rows", csv_rows, METH_VARARGS, csv_rows_doc},
    {"csv_read", csv_read, METH_VARARGS, csv_read_doc},
    {"count_newlines", count_newlines, METH_VARARGS, count_newlines_doc},
    {"last_record_end", last_record_end, METH_VARARGS, last_record_end_doc},
    {"numbers", numbers, METH_VARARGS, numbers_doc},
    {"csv_text", csv_text, METH_VARARGS, csv_text_doc},
    {"text_rows", text_rows, METH_VARARGS, text_rows_doc},
    {"csv_text_rows", csv_text_rows, METH_VARARGS, csv_text_rows_doc},
    {"csv_columns", csv_columns, METH_VARARGS, csv_columns_doc},
    {"number_lists", number_lists, METH_VARARGS, number_lists_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sm_payloads.formats._cparse",
    "Text-number kernels of the CSV and JSON readers (optional accelerator).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cparse(void) {
    PyObject *m;
    int c;
    text_class_init();
    for (c = 0; c < 128; c++) {
        if (ascii_char[c] == NULL && (ascii_char[c] = PyUnicode_FromOrdinal(c)) == NULL) return NULL;
    }
    m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "FAST_PATH", FAST_PATH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
