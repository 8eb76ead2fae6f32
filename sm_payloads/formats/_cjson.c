/*
 * sm_payloads.formats._cjson: the record scanners of the JSON and JSON Lines readers, in C:
 * `records` (requests, every record shape of one numeric column) and `json_lists` (runs of
 * ``{"<name>": [numbers]}`` records, which the response readers use).
 *
 * Optional accelerator: sm_payloads/formats/_json_layout.py holds the twins
 * (request_records_pure of records, _scan_pure of json_lists), with the same contracts, and
 * the test suite checks each pair against each other and against the general path.
 *
 * Rule 1 (shapes): `records` reads a request body whose records all give one numeric
 * column: each record is a bare list of numbers ``[1, 2.5]``, a bare number ``1`` (a scalar
 * record), or an object with exactly one key: ``features`` or another feature name holding
 * a number, a number list or a tensor object, or ``data`` holding an object with one such
 * name. A tensor object has ``values`` (numbers),
 * and optionally ``keys`` and ``shape`` (non-negative integers), in any order, each once.
 * A document is ``{"instances": [records]}``, a list of records, a list of numbers (one
 * record) or one record object; JSON Lines is one record per line (blank lines skipped).
 * Rule 2 (columns): every record is a dense vector or a scalar (lengths may differ), or
 * every record is a rectangular nested list of numbers of the same shape (kind 2: shape
 * its shape; an empty list only as the deepest level, at most MAX_RANK levels; a tensor object of ``values`` and a
 * ``shape`` of rank 2 or more, no dimension 0, is that shape's nested list), or every record is sparse with the
 * same shape (``keys`` non-empty, or no values and a shape
 * holding some); values go straight into one float64 (or float32) buffer, sparse keys into
 * one int64 buffer, one count per record (SCALAR, -1, for a scalar: one value of shape (),
 * which the caller tells from a list of one); no Python object per number or per record.
 * Rule 3 (decline): anything else (another key, a duplicate key, a string, null, a nested
 * list, an escape in a name, a record the general path would refuse, a number the
 * converter refuses, dense and sparse records together) returns None: the caller's
 * general path decides what the input is and reports its errors.
 * Rule 4: numbers are read by smp_number (_cnumber.h), exactly (float32 decided directly).
 * Output buffers are bytearrays grown geometrically (the GIL is taken only to resize them);
 * the loops run without the GIL.
 * Rule 5 (threads): with nthreads > 1, a record list or JSON Lines body of at least two
 * pieces' worth of bytes is cut into pieces read by as many threads (split_run), each into
 * its own region of the output buffers (sized once from a sample), then checked and moved
 * together in order; the result is always the one-thread result (a failed check reads the
 * body again with one thread).
 * Rule 6 (response items): with `items`, the records are a response's items: each a bare
 * number list or number (an object declines: a response's keys are all outputs), a
 * document is a list of them (a list of numbers too: one record per number) or
 * ``{"predictions": [...]}``, and JSON Lines is one per line.
 */
#include "_cnumber.h"
#include <pythread.h>

#define MAX_RANK 8
#define SHORT_SKIP 16
/* Keys and shape entries: at most this many digits (orjson's integers stop at 64 bits). */
#define MAX_UINT_DIGITS 18
/* The count of a scalar record or column value (one number, not a list): Rule 2. */
#define SCALAR (-1)

/* Pieces of a large body read by several threads (Rule 5): at most this many, each at least
 * `piece_min` bytes (the argument of `records`; this by default). */
#define MAX_PIECES 16
#define PIECE_MIN (1 << 19)

typedef struct {
    PyObject *ba; /* bytearray; NULL: a region of another Out's bytearray (a piece's) */
    char *p;
    Py_ssize_t len, cap; /* bytes */
} Out;

typedef struct {
    Gil g;
    const char *base, *start, *end;
    const char *proj_end; /* out_room projects output sizes to here (the first piece: the end of all) */
    int f32, lines, oom;
    int items; /* response items (Rule 6): bare records only, a document's list always records */
    int fixed;    /* the outputs are regions of fixed size (no resize, no GIL): running out of room sets full */
    int full;
    int last;     /* documents: this piece reads up to the list's ']' (else up to end) */
    int nthreads; /* threads allowed to read the record list or the lines */
    Py_ssize_t piece_min;
    int64_t line; /* JSON Lines: the line scan_lines starts at, then the one it reached (1-based) */
    Out vals, counts, keys, starts, linenos;
    Py_ssize_t nvals, nkeys, nrec;
    int kind; /* -1 none yet, 0 dense vectors, 1 sparse, 2 nested lists of one shape */
    int skip_short; /* numbers left to read by smp_number only */
    const char *name;
    Py_ssize_t name_len;
    int rank;
    int64_t shape[MAX_RANK];
    int64_t width;
} Scan;

static const char VALUES[] = "values";

static int out_init(Out *o, Py_ssize_t cap) {
    o->ba = PyByteArray_FromStringAndSize(NULL, cap);
    if (o->ba == NULL) return -1;
    o->p = PyByteArray_AS_STRING(o->ba);
    o->len = 0;
    o->cap = cap;
    return 0;
}

/* Room for `more` bytes at the end of o (the GIL is taken for the resize). At is where
 * the scan is (NULL: unknown): the size is then projected from the share of the text up to
 * s->proj_end read so far (5% spare), so that a large output is resized a few times only
 * (the first piece of a split body projects to the end of all pieces, so that the others
 * are appended without a resize). */
static int out_room(Scan *s, Out *o, Py_ssize_t more, const char *at) {
    Py_ssize_t want;
    int r;
    if (o->len + more <= o->cap) return 0;
    if (s->fixed) {
        s->full = 1;
        return -1;
    }
    want = o->cap * 2;
    if (at != NULL && at > s->start && s->proj_end > s->start) {
        double share = (double)(at - s->start) / (double)(s->proj_end - s->start);
        double projected = (double)(o->len + more) / share * 1.05;
        if (projected > (double)want && projected < (double)PY_SSIZE_T_MAX / 2) want = (Py_ssize_t)projected;
    }
    if (want < o->len + more) want = o->len + more;
    gil_take(&s->g);
    r = PyByteArray_Resize(o->ba, want);
    if (r < 0) {
        PyErr_Clear();
        s->oom = 1;
    } else {
        o->p = PyByteArray_AS_STRING(o->ba);
        o->cap = want;
    }
    gil_release(&s->g);
    return r;
}

static int put_i64(Scan *s, Out *o, int64_t v) {
    if (o->len + 8 > o->cap && out_room(s, o, 8, NULL) < 0) return -1;
    memcpy(o->p + o->len, &v, 8);
    o->len += 8;
    return 0;
}

static int same_kind(Scan *s, int kind, int rank, const int64_t *shape);

static inline const char *ws(const Scan *s, const char *p) {
    const char *end = s->end;
    if (s->lines) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    } else {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    }
    return p;
}

/* A name at p ('"'): no escape, no control byte. Returns the position after its closing
 * quote, with its bytes in *name and *len, or NULL. */
static const char *name_at(const Scan *s, const char *p, const char **name, Py_ssize_t *len) {
    const char *q;
    if (p >= s->end || *p != '"') return NULL;
    q = ++p;
    while (q < s->end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c == '\\' || c < 0x20) return NULL;
        q++;
    }
    if (q >= s->end) return NULL;
    *name = p;
    *len = q - p;
    return q + 1;
}

static inline int is_word(const char *name, Py_ssize_t len, const char *word) {
    size_t n = strlen(word);
    return (size_t)len == n && memcmp(name, word, n) == 0;
}

/* A short integer at p, the common case of integer data: [-]digits, at most 15 digits, no
 * fraction, no exponent. It reads as the float of the integer (m < 10**15 < 2**53: exact
 * as a double, one rounding to float32; -0 is 0.0), which is what smp_number would write.
 * NULL for anything else, decimals included (smp_number reads them: its word-wise path is
 * faster on them than a byte loop here). Needs FLT_EVAL_METHOD 0 (FAST_PATH). */
static inline const char *short_number(const char *p, const char *end, int f32, char *out) {
    const char *q = p, *d0;
    uint64_t m;
    int neg = 0;
    if (!FAST_PATH) return NULL;
    if (q < end && *q == '-') {
        neg = 1;
        q++;
    }
    if (q >= end || !is_digit((unsigned char)*q)) return NULL;
    d0 = q;
    m = (uint64_t)(*q++ - '0');
    if (m != 0)
        while (q < end && is_digit((unsigned char)*q) && q - d0 < 15) m = m * 10 + (uint64_t)(*q++ - '0');
    if (q < end && (is_digit((unsigned char)*q) || *q == '.' || *q == 'e' || *q == 'E')) return NULL;
    if (f32) {
        float f = (float)m;
        if (neg && m) f = -f;
        memcpy(out, &f, 4);
    } else {
        double v = (double)m;
        if (neg && m) v = -v;
        memcpy(out, &v, 8);
    }
    return q;
}

/* One number at p, appended to s->vals; the position after it, or NULL. */
static inline const char *one_number(Scan *s, const char *p) {
    const Py_ssize_t item = s->f32 ? 4 : 8;
    Out *o = &s->vals;
    const char *q = NULL;
    if (o->len + item > o->cap && out_room(s, o, item, p) < 0) return NULL;
    /* after a number short_number could not read, the next SHORT_SKIP go straight to
     * smp_number (a column of decimals pays for one try in SHORT_SKIP + 1) */
    if (s->skip_short > 0) {
        s->skip_short--;
    } else {
        q = short_number(p, s->end, s->f32, o->p + o->len);
        if (q == NULL) s->skip_short = SHORT_SKIP;
    }
    p = q != NULL ? q : smp_number(&s->g, p, s->end, SMP_JSON, s->f32, o->p + o->len);
    if (p != NULL) o->len += item;
    return p;
}

static inline int number_start(const Scan *s, const char *p) {
    return p < s->end && (*p == '-' || is_digit((unsigned char)*p));
}

/* A scalar record or column value at p (a number): one value, and SCALAR as its count. */
static const char *scalar_value(Scan *s, const char *p) {
    p = one_number(s, p);
    if (p == NULL || !same_kind(s, 0, 1, NULL)) return NULL;
    if (put_i64(s, &s->counts, SCALAR) < 0) return NULL;
    return p;
}

/* Numbers at p ('['), into s->vals; *count is how many. */
static const char *number_list(Scan *s, const char *p, Py_ssize_t *count) {
    Py_ssize_t n = 0;
    if (p >= s->end || *p != '[') return NULL;
    p = ws(s, p + 1);
    if (p < s->end && *p == ']') {
        *count = 0;
        return p + 1;
    }
    for (;;) {
        p = one_number(s, p);
        if (p == NULL) return NULL;
        n++;
        if (p < s->end && *p == ',') {
            p = ws(s, p + 1);
            continue;
        }
        p = ws(s, p);
        if (p >= s->end) return NULL;
        if (*p == ',') {
            p = ws(s, p + 1);
            continue;
        }
        if (*p != ']') return NULL;
        *count = n;
        return p + 1;
    }
}

/* A non-negative JSON integer at p (-0 is 0). */
static const char *uint_at(const Scan *s, const char *p, int64_t *v) {
    int64_t x = 0;
    int nd = 0;
    if (p < s->end && *p == '-') {
        p++;
        if (p >= s->end || *p != '0') return NULL;
    }
    if (p >= s->end || !is_digit((unsigned char)*p)) return NULL;
    if (*p == '0') {
        p++;
    } else {
        while (p < s->end && is_digit((unsigned char)*p)) {
            if (++nd > MAX_UINT_DIGITS) return NULL;
            x = x * 10 + (*p - '0');
            p++;
        }
    }
    /* a fraction or an exponent makes it a float, which the general path refuses here */
    if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E' || is_digit((unsigned char)*p))) return NULL;
    *v = x;
    return p;
}

/* Non-negative integers at p ('['): into `out` when given (else into local[], at most
 * MAX_RANK of them); *count is how many. */
static const char *uint_list(Scan *s, const char *p, Out *out, int64_t *local, Py_ssize_t *count) {
    Py_ssize_t n = 0;
    if (p >= s->end || *p != '[') return NULL;
    p = ws(s, p + 1);
    if (p < s->end && *p == ']') {
        *count = 0;
        return p + 1;
    }
    for (;;) {
        int64_t v;
        p = uint_at(s, p, &v);
        if (p == NULL) return NULL;
        if (out != NULL) {
            if (put_i64(s, out, v) < 0) return NULL;
        } else {
            if (n >= MAX_RANK) return NULL;
            local[n] = v;
        }
        n++;
        p = ws(s, p);
        if (p >= s->end) return NULL;
        if (*p == ',') {
            p = ws(s, p + 1);
            continue;
        }
        if (*p != ']') return NULL;
        *count = n;
        return p + 1;
    }
}

static int same_kind(Scan *s, int kind, int rank, const int64_t *shape) {
    int i;
    if (s->kind < 0) {
        s->kind = kind;
        if (kind >= 1) {
            int64_t w = 1;
            s->rank = rank;
            for (i = 0; i < rank; i++) {
                s->shape[i] = shape[i];
                if (shape[i] != 0 && w > ((int64_t)1 << 62) / shape[i]) return 0;
                w *= shape[i];
            }
            s->width = w;
        }
        return 1;
    }
    if (s->kind != kind) return 0;
    if (kind >= 1) {
        if (rank != s->rank) return 0;
        for (i = 0; i < rank; i++)
            if (shape[i] != s->shape[i]) return 0;
    }
    return 1;
}

static int same_name(Scan *s, const char *name, Py_ssize_t len) {
    if (s->name == NULL) {
        s->name = name;
        s->name_len = len;
        return 1;
    }
    return len == s->name_len && memcmp(name, s->name, (size_t)len) == 0;
}

/* A rectangular nested list of numbers at p (a '[' at depth d): its numbers into s->vals,
 * the length of each level into shape[] (-1: not seen yet), the depth of the numbers into
 * *rank (0: not seen yet; an empty list is the deepest level, of length 0). NULL for a
 * ragged or mixed level, more than MAX_RANK levels or anything else: the general path
 * decides. */
static const char *nested_list(Scan *s, const char *p, int d, int64_t *shape, int *rank) {
    int64_t k = 0;
    int inner;
    if (d >= MAX_RANK || p >= s->end || *p != '[') return NULL;
    p = ws(s, p + 1);
    if (p >= s->end) return NULL;
    if (*p == ']') {
        /* an empty level, the deepest ([[]]: shape (1, 0), as numpy reads it; 8-byte records
         * of them were 600-1000 ns a byte and 40 x the body on the general path) */
        if (d == 0) return NULL;
        if (*rank == 0) *rank = d + 1;
        else if (*rank != d + 1) return NULL;
        if (shape[d] < 0) shape[d] = 0;
        else if (shape[d] != 0) return NULL;
        return p + 1;
    }
    inner = *p == '['; /* this level holds lists (each read by nested_list) or numbers */
    if (inner) {
        if (*rank != 0 && *rank <= d + 1) return NULL;
    } else if (*rank == 0) {
        *rank = d + 1;
    } else if (*rank != d + 1) {
        return NULL;
    }
    for (;;) {
        p = inner ? nested_list(s, p, d + 1, shape, rank) : one_number(s, p);
        if (p == NULL) return NULL;
        k++;
        p = ws(s, p);
        if (p >= s->end) return NULL;
        if (*p == ',') {
            p = ws(s, p + 1);
            continue;
        }
        if (*p != ']') return NULL;
        break;
    }
    if (shape[d] < 0) shape[d] = k;
    else if (shape[d] != k) return NULL;
    return p + 1;
}

/* A matrix (or higher) value at p ('[' then '['): kind 2, every record of one shape. */
static const char *matrix_value(Scan *s, const char *p) {
    int64_t shape[MAX_RANK];
    int rank = 0, i;
    Py_ssize_t before = s->vals.len;
    for (i = 0; i < MAX_RANK; i++) shape[i] = -1;
    p = nested_list(s, p, 0, shape, &rank);
    if (p == NULL || !same_kind(s, 2, rank, shape)) return NULL;
    if (put_i64(s, &s->counts, (int64_t)((s->vals.len - before) / (s->f32 ? 4 : 8))) < 0) return NULL;
    return p;
}

/* One column value at p: a number list or a tensor object. Appends the record's count. */
static const char *column_value(Scan *s, const char *p) {
    Py_ssize_t nv = 0, nk = 0, rank = 0, keys_at = s->keys.len;
    int64_t shape[MAX_RANK];
    int seen = 0; /* 1 values, 2 keys, 4 shape */
    if (p >= s->end) return NULL;
    if (number_start(s, p)) return scalar_value(s, p);
    if (*p == '[') {
        const char *q = ws(s, p + 1);
        if (q < s->end && *q == '[') return matrix_value(s, p);
        p = number_list(s, p, &nv);
        if (p == NULL || !same_kind(s, 0, 1, NULL)) return NULL;
        if (put_i64(s, &s->counts, nv) < 0) return NULL;
        return p;
    }
    if (*p != '{') return NULL;
    p = ws(s, p + 1);
    if (p < s->end && *p == '}') return NULL; /* {} : an empty tensor, rare: the general path */
    for (;;) {
        const char *key;
        Py_ssize_t klen;
        p = name_at(s, p, &key, &klen);
        if (p == NULL) return NULL;
        p = ws(s, p);
        if (p >= s->end || *p != ':') return NULL;
        p = ws(s, p + 1);
        if (is_word(key, klen, "values")) {
            if (seen & 1) return NULL;
            seen |= 1;
            p = number_list(s, p, &nv);
        } else if (is_word(key, klen, "keys")) {
            if (seen & 2) return NULL;
            seen |= 2;
            p = uint_list(s, p, &s->keys, NULL, &nk);
        } else if (is_word(key, klen, "shape")) {
            if (seen & 4) return NULL;
            seen |= 4;
            p = uint_list(s, p, NULL, shape, &rank);
        } else {
            return NULL;
        }
        if (p == NULL) return NULL;
        p = ws(s, p);
        if (p >= s->end) return NULL;
        if (*p == ',') {
            p = ws(s, p + 1);
            continue;
        }
        if (*p != '}') return NULL;
        p++;
        break;
    }
    if (nk > 0) {
        /* sparse: a shape of rank >= 1, one key per value, every key inside the shape */
        const int64_t *k = (const int64_t *)(s->keys.p + keys_at);
        Py_ssize_t i;
        if (!(seen & 4) || rank == 0 || nk != nv || !same_kind(s, 1, (int)rank, shape)) return NULL;
        for (i = 0; i < nk; i++)
            if (k[i] >= s->width) return NULL;
        s->nkeys += nk;
    } else if (seen & 4) {
        int64_t size = 1;
        Py_ssize_t i;
        for (i = 0; i < rank; i++) {
            if (shape[i] != 0 && size > ((int64_t)1 << 62) / shape[i]) return NULL;
            size *= shape[i];
        }
        if (nv == 0 && size > 0) {
            /* an empty sparse row: a shape without values */
            if (rank == 0 || !same_kind(s, 1, (int)rank, shape)) return NULL;
        } else if (rank >= 2) {
            /* a dense tensor of its shape: its values are a nested list's, flattened (kind
             * 2; no empty dimension, as nested_list reads none) */
            if (size != nv || nv == 0 || !same_kind(s, 2, (int)rank, shape)) return NULL;
        } else {
            /* a dense vector with its length as shape (rank 0: the general path) */
            if (rank != 1 || size != nv || !same_kind(s, 0, 1, NULL)) return NULL;
        }
    } else {
        if (!same_kind(s, 0, 1, NULL)) return NULL;
    }
    if (put_i64(s, &s->counts, nv) < 0) return NULL;
    return p;
}

/* One record at p. */
static const char *record(Scan *s, const char *p) {
    const char *key, *name;
    Py_ssize_t klen, nlen;
    if (p >= s->end) return NULL;
    if (*p == '[' || number_start(s, p)) {
        if (!same_name(s, VALUES, 6)) return NULL;
        return column_value(s, p);
    }
    if (*p != '{' || s->items) return NULL;
    p = ws(s, p + 1);
    p = name_at(s, p, &key, &klen);
    if (p == NULL) return NULL;
    p = ws(s, p);
    if (p >= s->end || *p != ':') return NULL;
    p = ws(s, p + 1);
    if (is_word(key, klen, "data")) {
        if (p >= s->end || *p != '{') return NULL;
        p = ws(s, p + 1);
        p = name_at(s, p, &name, &nlen);
        if (p == NULL) return NULL;
        p = ws(s, p);
        if (p >= s->end || *p != ':') return NULL;
        p = ws(s, p + 1);
        if (is_word(name, nlen, "features")) {
            name = VALUES;
            nlen = 6;
        }
        if (!same_name(s, name, nlen)) return NULL;
        p = column_value(s, p);
        if (p == NULL) return NULL;
        p = ws(s, p);
        if (p >= s->end || *p != '}') return NULL;
        p++;
    } else {
        if (is_word(key, klen, "label") || is_word(key, klen, "uid") || is_word(key, klen, "metadata") ||
            is_word(key, klen, "configuration"))
            return NULL;
        if (is_word(key, klen, "features")) {
            key = VALUES;
            klen = 6;
        }
        if (!same_name(s, key, klen)) return NULL;
        p = column_value(s, p);
        if (p == NULL) return NULL;
    }
    p = ws(s, p);
    if (p >= s->end || *p != '}') return NULL;
    return p + 1;
}

/* Records from p (the first one's first byte), separated by ',': up to the closing ']'
 * (returns the position after it), or, for a piece that is not the last (s->last false),
 * up to s->end, which must come right after a ',' and its blanks (returns s->end). */
static const char *record_run(Scan *s, const char *p) {
    for (;;) {
        p = record(s, p);
        if (p == NULL) return NULL;
        s->nrec++;
        p = ws(s, p);
        if (p >= s->end) return NULL;
        if (*p == ',') {
            p = ws(s, p + 1);
            if (p == s->end && !s->last) return p;
            continue;
        }
        if (*p != ']' || !s->last) return NULL;
        return p + 1;
    }
}

static int scan_lines(Scan *s, const char *p);
static const char *split_run(Scan *s, const char *p);

/* records, separated by ',' up to the closing ']' (p after the opening '['). */
static const char *record_list(Scan *s, const char *p) {
    p = ws(s, p);
    if (p >= s->end || *p == ']') return NULL; /* no records: the general path */
    if (s->nthreads > 1) return split_run(s, p);
    return record_run(s, p);
}

static int scan_document(Scan *s, const char *p) {
    p = ws(s, p);
    if (p >= s->end) return 0;
    if (s->items) {
        /* response items: [records] or {"predictions": [records]} */
        int envelope = *p == '{';
        if (envelope) {
            const char *key;
            Py_ssize_t klen;
            p = name_at(s, ws(s, p + 1), &key, &klen);
            if (p == NULL || !is_word(key, klen, "predictions")) return 0;
            p = ws(s, p);
            if (p >= s->end || *p != ':') return 0;
            p = ws(s, p + 1);
        }
        if (p >= s->end || *p != '[') return 0;
        p = record_list(s, p + 1);
        if (p == NULL) return 0;
        if (envelope) {
            p = ws(s, p);
            if (p >= s->end || *p != '}') return 0;
            p++;
        }
        return ws(s, p) == s->end;
    }
    if (*p == '{') {
        const char *key, *q = ws(s, p + 1);
        Py_ssize_t klen;
        q = name_at(s, q, &key, &klen);
        if (q != NULL && is_word(key, klen, "instances")) {
            q = ws(s, q);
            if (q >= s->end || *q != ':') return 0;
            q = ws(s, q + 1);
            if (q >= s->end || *q != '[') return 0;
            q = record_list(s, q + 1);
            if (q == NULL) return 0;
            q = ws(s, q);
            if (q >= s->end || *q != '}') return 0;
            p = q + 1;
        } else {
            p = record(s, p);
            if (p == NULL) return 0;
            s->nrec = 1;
        }
    } else if (*p == '[') {
        const char *q = ws(s, p + 1);
        if (q < s->end && (*q == '-' || is_digit((unsigned char)*q))) {
            /* a list of numbers is one record */
            p = record(s, p);
            if (p == NULL) return 0;
            s->nrec = 1;
        } else {
            p = record_list(s, p + 1);
            if (p == NULL) return 0;
        }
    } else {
        return 0;
    }
    return ws(s, p) == s->end;
}

static int scan_lines(Scan *s, const char *p) {
    int64_t line = s->line;
    for (;;) {
        const char *r;
        p = ws(s, p);
        if (p >= s->end) {
            s->line = line;
            return 1;
        }
        if (*p == '\n') {
            line++;
            p++;
            continue;
        }
        r = p;
        p = record(s, p);
        if (p == NULL) return 0;
        p = ws(s, p);
        if (p < s->end && *p != '\n') return 0;
        if (put_i64(s, &s->starts, (int64_t)(r - s->base)) < 0 || put_i64(s, &s->linenos, line) < 0) return 0;
        s->nrec++;
    }
}

/* ------------------------------------------------------------------------------------
 * A large body, read by several threads (Rule 5)
 * ------------------------------------------------------------------------------------ */

typedef struct {
    Scan s;
    const char *from, *got; /* where the piece starts; what its reader returned */
    PyThread_type_lock done;
    int started;
} Piece;

/* A piece's reader: the lines of [p, s->end) (returns s->end), or records from p
 * (record_run). NULL when the piece is anything else. */
static const char *piece_read(Scan *s, const char *p) {
    if (s->lines) return scan_lines(s, p) ? s->end : NULL;
    return record_run(s, p);
}

static void piece_main(void *arg) {
    Piece *pc = (Piece *)arg;
    pc->got = piece_read(&pc->s, pc->from);
    PyThread_release_lock(pc->done);
}

static inline int blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* A guess at a record boundary in [t, stop): JSON Lines, after the first '\n' (up to
 * s->end); a document's record list, a '[' or '{' that follows a ',' whose last byte
 * before (blanks aside, not before p) is a ']' or '}', blanks between the ',' and the cut,
 * which is where records meet in every shape `record` reads. Only a guess (the bytes could
 * be inside a name): the piece before must end exactly there (see split_run). NULL: none. */
static const char *guess_cut(const Scan *s, const char *p, const char *t, const char *stop) {
    if (t >= s->end) return NULL;
    if (s->lines) {
        const char *nl = (const char *)memchr(t, '\n', (size_t)(s->end - t));
        return nl != NULL && nl + 1 < s->end ? nl + 1 : NULL;
    }
    while (t < stop) {
        const char *b, *f;
        t = (const char *)memchr(t, ',', (size_t)(stop - t));
        if (t == NULL) return NULL;
        b = t - 1;
        while (b > p && blank((unsigned char)*b)) b--;
        f = t + 1;
        while (f < s->end && blank((unsigned char)*f)) f++;
        t++;
        if ((*b == ']' || *b == '}') && f < s->end && (*f == '[' || *f == '{')) return f;
    }
    return NULL;
}

/* Where the pieces of [p, s->end) start: cuts[0] = p, then one guess near each n-th of
 * the text, in increasing order; returns how many pieces. */
static int find_cuts(const Scan *s, const char *p, int n, const char **cuts) {
    Py_ssize_t step = (s->end - p) / n;
    int i, k = 1;
    cuts[0] = p;
    for (i = 1; i < n; i++) {
        const char *t = p + step * i, *stop = i + 1 < n ? p + step * (i + 1) : s->end, *c;
        if (t <= cuts[k - 1]) t = cuts[k - 1] + 1;
        c = guess_cut(s, p, t, stop);
        if (c != NULL && c < s->end) cuts[k++] = c;
    }
    return k;
}

/* Do the records of piece b fit those read before it (a)? They must have the same column
 * name and kind, and the same shape when sparse: what the one-thread reader checks of
 * every record against the first. a takes b's when it has no records yet (blank lines). */
static int pieces_agree(Scan *a, const Scan *b) {
    int i;
    if (b->kind < 0) return b->nrec == 0;
    if (a->kind < 0) {
        if (a->nrec != 0) return 0;
        a->kind = b->kind;
        a->name = b->name;
        a->name_len = b->name_len;
        a->rank = b->rank;
        a->width = b->width;
        for (i = 0; i < b->rank; i++) a->shape[i] = b->shape[i];
        return 1;
    }
    if (a->kind != b->kind || a->name_len != b->name_len || memcmp(a->name, b->name, (size_t)a->name_len) != 0)
        return 0;
    if (a->kind >= 1) {
        if (a->rank != b->rank) return 0;
        for (i = 0; i < a->rank; i++)
            if (a->shape[i] != b->shape[i]) return 0;
    }
    return 1;
}

/* Room for exactly `more` bytes at the end of o (a bytearray: the GIL is taken). */
static int out_grow_exact(Scan *s, Out *o, Py_ssize_t more) {
    int r;
    if (o->len + more <= o->cap) return 0;
    gil_take(&s->g);
    r = PyByteArray_Resize(o->ba, o->len + more);
    if (r < 0) {
        PyErr_Clear();
        s->oom = 1;
    } else {
        o->p = PyByteArray_AS_STRING(o->ba);
        o->cap = o->len + more;
    }
    gil_release(&s->g);
    return r;
}

#define NOUT 5
#define SAMPLE (1 << 16)

static Out *scan_out(Scan *s, int j) {
    Out *o[NOUT] = {&s->vals, &s->counts, &s->keys, &s->starts, &s->linenos};
    return o[j];
}

/* What piece_read(s, p) returns, with the same outputs in s (the whole of [p, s->end) read
 * by one thread, s->last true), from up to s->nthreads threads. The text is cut into
 * pieces (find_cuts). This thread first reads a sample of the first piece (up to a guessed
 * cut at least SAMPLE bytes in); from the output per byte of text there, each output
 * buffer is sized once for all pieces (15% spare, plus 4 KiB per piece), and each piece
 * gets its own region of it, in order: the first piece goes on here, each other one is read
 * by its own thread straight into its region, and no piece may grow its region (a full one
 * fails the split). Then the pieces are checked and their regions moved together.
 * The result stands only when the sample and every piece before the last ended exactly at
 * the next cut after a ',' (JSON Lines: at its end, every cut being after a '\n'), every
 * piece was read whole in its room, and all agree (pieces_agree): the one-thread reader
 * then passes through each cut in the state a piece starts in, and reads the same records.
 * Anything else (a guess inside a record, a piece that declines or runs out of room) reads
 * the body again with one thread, so results, None included, are those of one thread.
 * Memory: the output buffers, about 1.15 times their final size at most. */
static const char *split_run(Scan *s, const char *p) {
    const char *cuts[MAX_PIECES + 1], *full_end = s->end, *got, *last_got = NULL, *sample_end;
    Piece *pcs = NULL;
    Py_ssize_t size = s->end - p, sampled, off[NOUT][MAX_PIECES + 1];
    int n = s->nthreads, k, i, j, ok;
    int64_t line_add = 0;
    if (n > MAX_PIECES) n = MAX_PIECES;
    if (s->piece_min > 0 && size / s->piece_min < n) n = (int)(size / s->piece_min);
    if (n < 2) return piece_read(s, p);
    k = find_cuts(s, p, n, cuts);
    if (k < 2) return piece_read(s, p);
    cuts[k] = full_end;
    /* the sample: the start of the first piece, read here */
    sampled = (cuts[1] - p) / 4 < SAMPLE ? (cuts[1] - p) / 4 : SAMPLE;
    sample_end = guess_cut(s, p, p + (sampled > 0 ? sampled : 1), cuts[1]);
    if (sample_end == NULL || sample_end >= cuts[1]) return piece_read(s, p);
    s->end = sample_end;
    s->last = 0;
    got = piece_read(s, p);
    s->end = full_end;
    s->last = 1;
    ok = got == sample_end && !s->oom;
    if (ok) pcs = (Piece *)calloc((size_t)k, sizeof(Piece));
    ok = pcs != NULL;
    sampled = sample_end - p;
    /* one region per piece and output; off[j][i] is where piece i's region starts */
    for (j = 0; j < NOUT && ok; j++) {
        Out *o = scan_out(s, j);
        double rate = (double)o->len / (double)sampled * 1.15;
        off[j][0] = 0;
        for (i = 0; i < k; i++) {
            const char *from = i == 0 ? sample_end : cuts[i];
            Py_ssize_t room = (Py_ssize_t)(rate * (double)(cuts[i + 1] - from)) + 4096;
            room = (room + 7) & ~(Py_ssize_t)7;
            off[j][i + 1] = off[j][i] + room + (i == 0 ? o->len : 0);
        }
        if (o->cap < off[j][k] && out_grow_exact(s, o, off[j][k] - o->len) < 0) ok = 0;
    }
    if (!ok) {
        free(pcs);
        goto again;
    }
    for (i = 1; i < k; i++) {
        Scan *t = &pcs[i].s;
        t->base = s->base;
        t->start = cuts[i];
        t->end = t->proj_end = cuts[i + 1];
        t->f32 = s->f32;
        t->lines = s->lines;
        t->items = s->items;
        t->last = i == k - 1;
        t->nthreads = 1;
        t->kind = -1;
        t->line = 1;
        t->fixed = 1;
        for (j = 0; j < NOUT; j++) {
            Out *o = scan_out(t, j), *so = scan_out(s, j);
            o->ba = NULL;
            o->p = so->p + off[j][i];
            o->len = 0;
            o->cap = off[j][i + 1] - off[j][i];
        }
        pcs[i].from = cuts[i];
        pcs[i].done = PyThread_allocate_lock();
        if (pcs[i].done == NULL) continue;
        PyThread_acquire_lock(pcs[i].done, WAIT_LOCK);
        if (PyThread_start_new_thread(piece_main, &pcs[i]) == PYTHREAD_INVALID_THREAD_ID) {
            PyThread_release_lock(pcs[i].done);
            PyThread_free_lock(pcs[i].done);
            pcs[i].done = NULL;
            continue;
        }
        pcs[i].started = 1;
    }
    /* the rest of the first piece, here, in its region */
    {
        Py_ssize_t caps[NOUT];
        for (j = 0; j < NOUT; j++) {
            caps[j] = scan_out(s, j)->cap;
            scan_out(s, j)->cap = off[j][1];
        }
        s->end = cuts[1];
        s->last = 0;
        s->fixed = 1;
        got = piece_read(s, sample_end);
        s->end = full_end;
        s->last = 1;
        s->fixed = 0;
        for (j = 0; j < NOUT; j++) scan_out(s, j)->cap = caps[j];
    }
    ok = got == cuts[1] && !s->oom && !s->full;
    for (i = 1; i < k; i++) {
        Piece *pc = &pcs[i];
        if (pc->started) {
            PyThread_acquire_lock(pc->done, WAIT_LOCK);
            PyThread_release_lock(pc->done);
        } else if (ok) {
            pc->got = piece_read(&pc->s, pc->from); /* no thread: read it here */
        }
        if (pc->done != NULL) PyThread_free_lock(pc->done);
    }
    for (i = 1; i < k && ok; i++) {
        Scan *t = &pcs[i].s;
        if (t->full || pcs[i].got == NULL || (i < k - 1 && pcs[i].got != cuts[i + 1]) || !pieces_agree(s, t)) {
            ok = 0;
            break;
        }
        if (i == k - 1) last_got = pcs[i].got;
    }
    if (ok && s->lines) line_add = s->line - 1;
    for (i = 1; i < k && ok; i++) {
        Scan *t = &pcs[i].s;
        /* the regions, moved together in order (each one only moves down) */
        for (j = 0; j < NOUT; j++) {
            Out *o = scan_out(s, j), *from = scan_out(t, j);
            memmove(o->p + o->len, from->p, (size_t)from->len);
            if (j == 4 && line_add != 0) {
                Py_ssize_t e, ne = from->len / 8;
                for (e = 0; e < ne; e++) {
                    int64_t v;
                    memcpy(&v, o->p + o->len + 8 * e, 8);
                    v += line_add;
                    memcpy(o->p + o->len + 8 * e, &v, 8);
                }
            }
            o->len += from->len;
        }
        if (s->lines) line_add += t->line - 1;
        s->nkeys += t->nkeys;
        s->nrec += t->nrec;
    }
    free(pcs);
    if (ok) {
        if (s->lines) s->line = line_add + 1;
        return last_got;
    }
again:
    /* one thread, from the start */
    s->vals.len = s->counts.len = s->keys.len = s->starts.len = s->linenos.len = 0;
    s->nvals = s->nkeys = s->nrec = 0;
    s->kind = -1;
    s->skip_short = 0;
    s->name = NULL;
    s->name_len = 0;
    s->rank = 0;
    s->width = 0;
    s->oom = 0;
    s->full = 0;
    s->line = 1;
    return piece_read(s, p);
}

PyDoc_STRVAR(records_doc,
             "records(data, start, stop, lines, f32, nthreads=1, piece_min=524288, items=False) -> tuple | None\n\n"
             "Read data[start:stop], a JSON request document (lines false) or JSON Lines\n"
             "(lines true), whose records all give one numeric column (see the module's rules).\n"
             "Returns (kind, name, values, counts, keys, shape, starts, linenos, n): kind 0 for\n"
             "dense vectors, 1 for sparse records, 2 for nested lists of one shape; name the column's key (bytes, 'values' for\n"
             "features); values a bytearray of float64 (float32 when f32) values; counts a\n"
             "bytearray of int64, one per record (values, or keys when sparse; -1 for a scalar\n"
             "record or value, which holds one value); keys a bytearray\n"
             "of int64 flat indices (None when dense); shape the sparse or nested records' shape\n"
             "(a tuple, None for vectors and scalars); starts and linenos (JSON Lines only, else None) the byte offset of\n"
             "each record and its 1-based line within data[start:stop]; n the records.\n"
             "None when the body is anything else.\n"
             "A record list or JSON Lines body of at least 2 * piece_min bytes is read in up to\n"
             "nthreads pieces of at least piece_min bytes by as many threads, with the result of\n"
             "one thread (see split_run). items true: response items (Rule 6).");

static PyObject *records(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t start, stop;
    Py_ssize_t piece_min = PIECE_MIN;
    int lines, f32, ok, nthreads = 1, items = 0;
    Scan s;
    PyObject *res = NULL, *shape = Py_None, *name = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnpp|inp", &data, &start, &stop, &lines, &f32, &nthreads, &piece_min, &items)) return NULL;
    if (start < 0 || stop > data.len || start > stop || piece_min < 1) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "records: bad bounds");
        return NULL;
    }
    memset(&s, 0, sizeof(s));
    s.base = (const char *)data.buf;
    s.start = s.base + start;
    s.end = s.proj_end = s.base + stop;
    s.f32 = f32;
    s.lines = lines;
    s.kind = -1;
    s.last = 1;
    s.line = 1;
    s.nthreads = nthreads;
    s.piece_min = piece_min;
    s.items = items;
    {
        Py_ssize_t size = stop - start;
        Py_ssize_t guess = (size / 8 + 64) & ~(Py_ssize_t)7;
        if (out_init(&s.vals, guess) < 0 || out_init(&s.counts, 1024) < 0 || out_init(&s.keys, 64) < 0 ||
            out_init(&s.starts, lines ? 1024 : 0) < 0 || out_init(&s.linenos, lines ? 1024 : 0) < 0)
            goto fail;
    }
    gil_release(&s.g);
    if (lines)
        ok = nthreads > 1 ? split_run(&s, s.base + start) != NULL : scan_lines(&s, s.base + start);
    else
        ok = scan_document(&s, s.base + start);
    gil_take(&s.g);
    if (s.oom) {
        PyErr_NoMemory();
        goto fail;
    }
    if (!ok || (s.kind < 0 && s.nrec > 0)) {
        res = Py_None;
        Py_INCREF(res);
        goto fail;
    }
    if (PyByteArray_Resize(s.vals.ba, s.vals.len) < 0 || PyByteArray_Resize(s.counts.ba, s.counts.len) < 0 ||
        PyByteArray_Resize(s.keys.ba, s.keys.len) < 0 || PyByteArray_Resize(s.starts.ba, s.starts.len) < 0 ||
        PyByteArray_Resize(s.linenos.ba, s.linenos.len) < 0)
        goto fail;
    if (s.kind >= 1) {
        int i;
        shape = PyTuple_New(s.rank);
        if (shape == NULL) goto fail;
        for (i = 0; i < s.rank; i++) {
            PyObject *d = PyLong_FromLongLong((long long)s.shape[i]);
            if (d == NULL) {
                Py_DECREF(shape);
                goto fail;
            }
            PyTuple_SET_ITEM(shape, i, d);
        }
    } else {
        Py_INCREF(shape);
    }
    name = s.name == NULL ? PyBytes_FromStringAndSize(VALUES, 6) : PyBytes_FromStringAndSize(s.name, s.name_len);
    if (name == NULL) {
        Py_DECREF(shape);
        goto fail;
    }
    res = Py_BuildValue("iNOOOOOOn", s.kind < 0 ? 0 : s.kind, name, s.vals.ba, s.counts.ba,
                        s.kind == 1 ? s.keys.ba : Py_None, shape, lines ? s.starts.ba : Py_None,
                        lines ? s.linenos.ba : Py_None, s.nrec);
    Py_DECREF(shape);
fail:
    Py_XDECREF(s.vals.ba);
    Py_XDECREF(s.counts.ba);
    Py_XDECREF(s.keys.ba);
    Py_XDECREF(s.starts.ba);
    Py_XDECREF(s.linenos.ba);
    PyBuffer_Release(&data);
    return res;
}

/* ------------------------------------------------------------------------------------
 * json_lists: runs of number lists (the scanner of uniform bodies, `scan` in
 * _json_layout.py, whose twin is _scan_pure there)
 * ------------------------------------------------------------------------------------ */

static inline int json_ws(unsigned char c, int newlines) {
    return c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n');
}

/* One JSON number at p (RFC 8259 grammar) as the float64 the orjson path gives (see
 * smp_number): the end of its text, or NULL. */
static inline const char *json_number(Gil *g, const char *p, const char *end, double *out) {
    return smp_number(g, p, end, SMP_JSON, 0, out);
}

PyDoc_STRVAR(json_lists_doc,
             "json_lists(data, start, stop, sep, out, counts, starts, newlines) -> tuple | None\n\n"
             "Read data[start:stop] as records separated by the bytes sep (none when sep is\n"
             "empty), each the inside of a JSON array of numbers: RFC 8259 numbers with ','\n"
             "between them and JSON blanks around them ('\\n' only when newlines is true:\n"
             "JSON Lines records stay on their line). Values go to out (float64), each\n"
             "record's count and start\n"
             "offset to counts and starts (int64), all writable buffers. Returns\n"
             "(status, pos, values, records): status 0 when it reached stop, 1 when out was\n"
             "full, 2 when counts or starts were full (pos is then the start of the first\n"
             "record not read: call again from there with more room). None when the text is\n"
             "anything else, or holds a number beyond the float64 range (which the orjson\n"
             "path refuses).\n"
             "An integer reads as the float of that integer (-0 is 0.0).");

static PyObject *json_lists(PyObject *self, PyObject *args) {
    Py_buffer data, sep, out, counts, starts;
    Py_ssize_t start, stop, n = 0, nrec = 0;
    int newlines, status = 0, ok = 1;
    const char *p = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nny*w*w*w*p", &data, &start, &stop, &sep, &out, &counts, &starts, &newlines))
        return NULL;
    if (start < 0 || stop > data.len || start > stop || out.len % (Py_ssize_t)sizeof(double) != 0 ||
        counts.len % (Py_ssize_t)sizeof(int64_t) != 0 || counts.len != starts.len ||
        (uintptr_t)out.buf % sizeof(double) != 0 || (uintptr_t)counts.buf % sizeof(int64_t) != 0 ||
        (uintptr_t)starts.buf % sizeof(int64_t) != 0) {
        ok = -1;
        goto release;
    }
    {
        const char *base = (const char *)data.buf;
        const char *end = base + stop;
        const char *sp = (const char *)sep.buf;
        Py_ssize_t slen = sep.len;
        double *dst = (double *)out.buf;
        int64_t *cnt = (int64_t *)counts.buf, *st = (int64_t *)starts.buf;
        Py_ssize_t cap = out.len / (Py_ssize_t)sizeof(double);
        Py_ssize_t rcap = counts.len / (Py_ssize_t)sizeof(int64_t);
        Gil g = {NULL};
#define AT_SEP(x) (slen && end - (x) >= slen && *(x) == *sp && memcmp((x), sp, (size_t)slen) == 0)
        gil_release(&g);
        p = base + start;
        for (;;) {
            const char *rec = p;
            Py_ssize_t first = n;
            int full = 0, at_sep = 0;
            if (nrec >= rcap) {
                status = 2;
                break;
            }
            while (p < end && json_ws((unsigned char)*p, newlines)) p++;
            if (p < end && !AT_SEP(p)) {
                for (;;) {
                    if (n >= cap) {
                        full = 1;
                        break;
                    }
                    /* after a ',' a number must follow: at a separator or the end, the
                     * number reader declines (a trailing comma) */
                    p = json_number(&g, p, end, dst + n);
                    if (p == NULL) break;
                    n++;
                    while (p < end && json_ws((unsigned char)*p, newlines)) p++;
                    if (p < end && *p == ',') {
                        p++;
                        while (p < end && json_ws((unsigned char)*p, newlines)) p++;
                        continue;
                    }
                    break;
                }
                if (p == NULL) {
                    ok = 0;
                    break;
                }
                if (full) {
                    n = first;
                    p = rec;
                    status = 1;
                    break;
                }
            }
            if (p < end) {
                if (!AT_SEP(p)) {
                    ok = 0;
                    break;
                }
                at_sep = 1;
            }
            cnt[nrec] = n - first;
            st[nrec] = rec - base;
            nrec++;
            if (!at_sep) break;
            p += slen;
        }
#undef AT_SEP
        gil_take(&g);
    }
release:
    PyBuffer_Release(&data);
    PyBuffer_Release(&sep);
    PyBuffer_Release(&out);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&starts);
    if (ok < 0) {
        PyErr_SetString(PyExc_ValueError, "json_lists: bad bounds or buffer sizes");
        return NULL;
    }
    if (!ok) Py_RETURN_NONE;
    return Py_BuildValue("innn", status, (Py_ssize_t)(p - (const char *)data.buf), n, nrec);
}

static PyMethodDef methods[] = {
    {"records", records, METH_VARARGS, records_doc},
    {"json_lists", json_lists, METH_VARARGS, json_lists_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sm_payloads.formats._cjson",
    "Record scanners of the JSON and JSON Lines readers (optional accelerator).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cjson(void) { return PyModule_Create(&module); }
