/*
 * sm_payloads.formats._clibsvm: the libsvm reader's block kernel in C.
 *
 * Optional accelerator: `_fast` in sm_payloads/formats/libsvm.py is its numpy twin, with the
 * same contract, and the test suite checks the pair against each other and against the
 * careful reader. The kernel only accepts or declines: it reads a whole block of lines
 * straight into CSR parts (entries per record, columns, values) and the label and qid
 * arrays, in one pass without the GIL, or it declines the block, and the careful reader
 * reads it again and says what is wrong and where.
 *
 * What it accepts is exactly what the careful reader accepts:
 * - lines end at '\n'; tokens are separated by ASCII whitespace (' ', '\t', '\r', '\v',
 *   '\f'); '#' ends the line's text (a comment runs to the end of the line, inside a token
 *   too); a line without tokens is not a record;
 * - the first token is the label when it holds no ':'; then an optional qid:<digits> (at
 *   most 10 digits, at most 2**31 - 1); then index:value pairs; every record agrees with
 *   the first one of the stream on having a label and on having a qid;
 * - an index is 1 to 12 ASCII digits; index - index_base is the column, from 0 to
 *   MAX_COLUMN (2**31 - 2) and below num_features when that is given, strictly increasing
 *   within the record;
 * - numbers (label, value) are smp_number's CSV grammar, which is float()'s on ASCII
 *   text without underscores: [+-]? then a decimal with optional dot and exponent, or
 *   nan, inf, infinity in any case. The number must fill the token, and a decimal must
 *   lie within the range of the requested type (1e400, or 1e39 for float32, rounds to
 *   infinity: declined, the careful reader's error).
 * Numbers are converted by smp_number (_cnumber.h): correctly rounded in the requested
 * type, float64 or float32 (no double rounding).
 */
#include "_cnumber.h"

#define MAX_COLUMN 2147483646LL
#define QID_MAX 2147483647LL

/* bytes.split()'s whitespace (Py_ISSPACE): the token separators. '\n' is one of them. */
static inline int is_ws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
/* Where a token stops: whitespace, a comment, or the end. */
static inline int is_stop(unsigned char c) { return is_ws(c) || c == '#'; }

typedef struct {
    /* options */
    long long base, num_features; /* num_features < 0: none */
    int f32;
    /* state carried across blocks: -1 undecided, 0 no, 1 yes */
    int has_label, has_qid;
    /* outputs and their capacities */
    int64_t *counts;
    int32_t *cols;
    char *values; /* float or double */
    char *labels;
    int64_t *qids;
    Py_ssize_t rows_cap, nnz_cap;
    /* results */
    Py_ssize_t rows, nnz, lines, first_line;
    long long max_col;
    const char *stop; /* a declined block: where the line it stopped in begins */
} Out;

/* The end of a line's text from p: the '\n' or end. */
static inline const char *line_end(const char *p, const char *end) {
    const char *nl = (const char *)memchr(p, '\n', (size_t)(end - p));
    return nl == NULL ? end : nl;
}

/* Skip separators on the line (not the '\n'); a '#' skips to the line's end. */
static inline const char *skip_blank(const char *p, const char *eol) {
    while (p < eol) {
        unsigned char c = (unsigned char)*p;
        if (c == '#') return eol;
        if (!is_ws(c)) break;
        p++;
    }
    return p;
}

/* Whether the value just written to out is an infinity. */
static inline int is_inf(int f32, const void *out) {
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

/* The number at p filling its token (it stops at a separator, a '#' or eol). Returns the
 * position after it, or NULL. */
static inline const char *token_number(Gil *g, const char *p, const char *eol, const char *end, int f32,
                                       void *out) {
    /* smp_number may look ahead past eol (to end) for its word-wise scan; the digits it
     * takes never include a separator, so the token ends where the number does or not. */
    const char *q = smp_number(g, p, end, SMP_CSV, f32, out);
    if (q == NULL || q > eol) return NULL;
    if (q < eol && !is_stop((unsigned char)*q)) return NULL;
    if (is_inf(f32, out)) {
        /* a decimal beyond the type's range is the careful reader's error (the words inf
         * and infinity are infinities) */
        const char *d = p;
        if (*d == '+' || *d == '-') d++;
        if (is_digit((unsigned char)*d) || *d == '.') return NULL;
    }
    return q;
}

/* Parse the lines of [p, end). 1: all accepted; 0: declined. */
static int parse_block(Gil *g, const char *p, const char *end, Out *o) {
    const size_t vsize = o->f32 ? sizeof(float) : sizeof(double);
    Py_ssize_t line = 0;
    while (p < end) {
        const char *eol = line_end(p, end);
        const char *t = skip_blank(p, eol);
        o->stop = p;
        if (t < eol) {
            /* a record */
            const char *s = t;
            int has_label, has_qid = 0;
            long long prev = -1;
            Py_ssize_t n0 = o->nnz;
            if (o->rows >= o->rows_cap) return 0;
            while (s < eol && !is_stop((unsigned char)*s) && *s != ':') s++;
            has_label = !(s < eol && *s == ':');
            if (has_label) {
                t = token_number(g, t, eol, end, o->f32, o->labels + (size_t)o->rows * vsize);
                if (t == NULL) return 0;
                t = skip_blank(t, eol);
            }
            if (o->has_label < 0) {
                o->has_label = has_label;
                o->first_line = line;
            } else if (o->has_label != has_label) {
                return 0;
            }
            if (eol - t >= 4 && t[0] == 'q' && t[1] == 'i' && t[2] == 'd' && t[3] == ':') {
                long long q = 0;
                const char *d = t + 4;
                while (d < eol && is_digit((unsigned char)*d)) {
                    if (d - (t + 4) >= 10) return 0;
                    q = q * 10 + (*d - '0');
                    d++;
                }
                if (d == t + 4 || q > QID_MAX || (d < eol && !is_stop((unsigned char)*d))) return 0;
                o->qids[o->rows] = q;
                has_qid = 1;
                t = skip_blank(d, eol);
            }
            if (o->has_qid < 0) {
                o->has_qid = has_qid;
            } else if (o->has_qid != has_qid) {
                return 0;
            }
            while (t < eol) {
                /* index:value */
                long long idx = 0, col;
                const char *d = t;
                while (d < eol && is_digit((unsigned char)*d)) {
                    if (d - t >= 12) return 0;
                    idx = idx * 10 + (*d - '0');
                    d++;
                }
                if (d == t || d >= eol || *d != ':') return 0;
                col = idx - o->base;
                if (col < 0 || col > MAX_COLUMN || col <= prev) return 0;
                if (o->num_features >= 0 && col >= o->num_features) return 0;
                if (o->nnz >= o->nnz_cap) return 0;
                t = token_number(g, d + 1, eol, end, o->f32, o->values + (size_t)o->nnz * vsize);
                if (t == NULL) return 0;
                o->cols[o->nnz++] = (int32_t)col;
                prev = col;
                t = skip_blank(t, eol);
            }
            o->counts[o->rows++] = o->nnz - n0;
            if (prev > o->max_col) o->max_col = prev;
        }
        line++;
        p = eol < end ? eol + 1 : end;
    }
    o->lines = line;
    return 1;
}

static int writable(Py_buffer *b, Py_ssize_t item, Py_ssize_t *cap) {
    if (b->len % item != 0 || (uintptr_t)b->buf % (uintptr_t)item != 0) return 0;
    *cap = b->len / item;
    return 1;
}

PyDoc_STRVAR(parse_doc,
             "parse(data, lo, hi, index_base, num_features, f32, has_label, has_qid,\n"
             "      counts, cols, values, labels, qids, report=False) -> tuple | int | None\n\n"
             "Read the libsvm lines of data[lo:hi] (see the module docstring for what is\n"
             "accepted). num_features < 0: none. f32: values and labels are float32, else\n"
             "float64. has_label / has_qid: what the records before this block had (1, 0) or\n"
             "-1 when no record came before. Writes each record's entry count to counts\n"
             "(int64), the columns to cols (int32), the values to values, the labels to labels\n"
             "(both float32 when f32, else float64) and the qids to qids (int64); counts, labels\n"
             "and qids hold at least one item per line, cols and values one per ':'.\n"
             "Returns (records, entries, lines, has_label, has_qid, first_line, max_col):\n"
             "first_line is the 0-based line of the block's first record (-1: none), max_col\n"
             "the largest column read (-1: none), has_label / has_qid as decided after the\n"
             "block. None when the kernel declines anything in the block (outputs partly\n"
             "written); with report, the offset in data of the line it stopped in instead.");

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer data, counts, cols, values, labels, qids;
    Py_ssize_t lo, hi, vcap, lcap, qcap;
    long long base, num_features;
    int f32, has_label, has_qid, ok, report = 0;
    Py_ssize_t stop = -1;
    Out o;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnLLpiiw*w*w*w*w*|p", &data, &lo, &hi, &base, &num_features, &f32, &has_label,
                          &has_qid, &counts, &cols, &values, &labels, &qids, &report))
        return NULL;
    memset(&o, 0, sizeof(o));
    ok = lo >= 0 && hi <= data.len && lo <= hi && (base == 0 || base == 1) && has_label >= -1 && has_label <= 1 &&
         has_qid >= -1 && has_qid <= 1 && writable(&counts, sizeof(int64_t), &o.rows_cap) &&
         writable(&cols, sizeof(int32_t), &o.nnz_cap) &&
         writable(&values, f32 ? (Py_ssize_t)sizeof(float) : (Py_ssize_t)sizeof(double), &vcap) &&
         writable(&labels, f32 ? (Py_ssize_t)sizeof(float) : (Py_ssize_t)sizeof(double), &lcap) &&
         writable(&qids, sizeof(int64_t), &qcap) && vcap >= o.nnz_cap && lcap >= o.rows_cap && qcap >= o.rows_cap;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "parse: bad bounds, options or output buffers");
    } else {
        Gil g = {NULL};
        o.base = base;
        o.num_features = num_features;
        o.f32 = f32;
        o.has_label = has_label;
        o.has_qid = has_qid;
        o.counts = (int64_t *)counts.buf;
        o.cols = (int32_t *)cols.buf;
        o.values = (char *)values.buf;
        o.labels = (char *)labels.buf;
        o.qids = (int64_t *)qids.buf;
        o.first_line = -1;
        o.max_col = -1;
        gil_release(&g);
        ok = parse_block(&g, (const char *)data.buf + lo, (const char *)data.buf + hi, &o);
        gil_take(&g);
        ok = ok ? 1 : 0;
        if (!ok && o.stop != NULL) stop = o.stop - (const char *)data.buf;
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&counts);
    PyBuffer_Release(&cols);
    PyBuffer_Release(&values);
    PyBuffer_Release(&labels);
    PyBuffer_Release(&qids);
    if (PyErr_Occurred()) return NULL;
    if (!ok && report && stop >= 0) return PyLong_FromSsize_t(stop);
    if (!ok) Py_RETURN_NONE;
    return Py_BuildValue("(nnniinL)", o.rows, o.nnz, o.lines, o.has_label, o.has_qid, o.first_line, o.max_col);
}

PyDoc_STRVAR(sizes_doc,
             "sizes(data, lo, hi) -> (newlines, colons)\n\n"
             "How many '\\n' and ':' bytes data[lo:hi] holds (parse's output sizes: at most\n"
             "newlines + 1 records and colons entries), without the GIL.");

static PyObject *sizes(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t lo, hi, nl = 0, colons = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &lo, &hi)) return NULL;
    if (lo < 0 || hi > data.len || lo > hi) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "sizes: bad bounds");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *p = (const unsigned char *)data.buf + lo;
    Py_ssize_t n = hi - lo, i = 0;
    while (i < n) {
        /* in runs short enough for 32-bit counters, which the compiler vectorizes */
        Py_ssize_t stop = n - i > 65536 ? i + 65536 : n;
        uint32_t a = 0, b = 0;
        for (; i < stop; i++) {
            a += p[i] == '\n';
            b += p[i] == ':';
        }
        nl += a;
        colons += b;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return Py_BuildValue("(nn)", nl, colons);
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, parse_doc},
    {"sizes", sizes, METH_VARARGS, sizes_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sm_payloads.formats._clibsvm",
    "The libsvm reader's block kernel (optional accelerator).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__clibsvm(void) { return PyModule_Create(&module); }
