/*
 * sm_payloads.formats._cjsonrec: responses column by column, in C. json_records reads JSON
 * response records into columns; dict_rows checks (and gathers into columns) per-record
 * output dicts, so that they can be written as they are; array_lines cuts orjson's array of
 * such dicts into JSON Lines; join_lines joins CSV response rows, and join_rows JSON response
 * objects, from one text per column.
 *
 * Optional accelerator: the twins have the same contracts (records_pure in
 * sm_payloads/formats/_json_layout.py, rows_kinds_pure and rows_columns_pure in
 * sm_payloads/formats/_rows.py, array_lines_pure in sm_payloads/formats/jsonlines.py,
 * join_lines_pure in sm_payloads/formats/csv.py, join_rows_pure in _json_layout.py), and the
 * test suite
 * (tests/test_responses_fastpath.py) checks each pair against each other and against the
 * general path.
 *
 * Rule 1 (accept or decline): json_records reads one exact shape, a JSON array of flat
 * objects (bare, or the only value of a {"predictions" | "projections" | "scores": [...]}
 * envelope; with `request`, of an {"instances": [...]} envelope, for the request readers),
 * or one flat object per line (JSON Lines). Each key appears at most once in a record, in
 * any order, and holds the same kind of value in every record that has it: a number, a
 * string, or a list of numbers of one length; or numbers and lists of numbers of any
 * lengths, mixed (a ragged column: kind 'r', its values and one count per record, -1 for
 * a number). A key may be missing from records (a record may be {}): its column then
 * comes with the index of the records that hold it, and its values are theirs. Columns
 * come in the order their keys first appear. In a request, a record's "data" and "label"
 * objects hold keys of the same kinds (columns "data\0name" and "label\0name": the same
 * name in two objects is two columns), and a key may hold a tensor object as the request
 * scanner reads one (scan_tensor): without keys and shape its list (a label whose every
 * value is one of one value is a column of numbers, as the general path reads it), with
 * keys and a shape a sparse record (kind 'k': payload (values, keys, counts, shape), every
 * record of the column sparse with one shape); a key may hold lists of strings (kind 'S':
 * payload a list of each record's list of str; none empty). Anything else (true, false, null,
 * other objects, other lengths, invalid JSON or UTF-8, a lone surrogate escape, an empty array,
 * no records, a response whose records are all {}) returns None and the caller's general
 * path decides what the body is and reports its errors. The kernel never raises for the
 * content of a body.
 * Rule 2 (numbers): numbers are read by smp_number (_cnumber.h) in the JSON grammar as
 * float64, exactly (the correctly rounded value of the text); a number beyond float64
 * declines. With allow_nan, the words NaN, Infinity and -Infinity are numbers too (as
 * Python's json reads them; SMP_JSON_NAN).
 * Rule 3 (strings): a string is decoded strictly as UTF-8 with its JSON escapes; the same
 * text twice in a row in one column gives the same str object.
 * Rule 4 (GIL): the scan runs without the GIL (smp_number takes it back for a number it
 * hands to CPython); building the str objects and the result holds it.
 * Rule 5 (memory, time): the output buffers grow by doubling; memory stays proportional to
 * the body. A key not where the previous record had it is looked up in a hash table of
 * the keys seen so far (which also finds a key twice), with a budget of probes
 * proportional to the body, where comparing a key of the same length spends one more
 * probe per 8 bytes: a body that spends it (keys made to collide) declines, so time stays
 * proportional to the body whatever the keys, their lengths and their order.
 * Rule 6 (output dicts): dict_rows accepts only exact dicts with the first one's str keys in
 * its order, each key holding one kind of value (finite float, int32-range int, str, finite
 * numpy float64 / float32 scalar, lists of one length of finite floats or of int32-range
 * ints): for those, orjson writes the dicts with the bytes of the batch built from them.
 * Anything else returns None and the caller builds the batch.
 * Rule 7 (check mode): for a body json_records declines, json_records(check=True) reads the
 * same records again, taking every value the general path's grammar reads without an error
 * (cell: numbers, strings, lists of numbers or of strings, rectangular nested lists of
 * numbers, tensor objects) and keeping only its form (shape, number of values, flags: text,
 * keyed, sparse), interned once per body, per key in record order; every string is checked
 * (escapes, UTF-8) as it is read. When it reads every record, the caller finds the first
 * column error the general path's column builder would raise from the forms alone (no
 * Python object per record); a value the grammar refuses, or one the route leaves to the
 * general path, stops it with the report of a declined scan.
 * Rule 8 (validity): json_valid says whether a text is certainly one JSON value that orjson
 * parses, building nothing, so that an error found in one record of a document can be
 * reported without parsing the others (a syntax error anywhere comes first); it is
 * conservative: what it is not sure of (big numbers, surrogate escapes, deep nesting) is
 * left to orjson.
 */
#include "_cnumber.h"

#include <math.h>
#include <stdlib.h>

/* The most columns a body may have (more declines): keys, not counting a request's uid,
 * metadata and configuration (at most TEXT_KEYS more), so that every body within the
 * serving limit of 4096 columns (smp.limits.SERVING) is read here. */
#define MAX_KEYS 4096
#define TEXT_KEYS 3
/* The column table starts this long and doubles as keys come (a small body allocates
 * little), up to MAX_KEYS + TEXT_KEYS. */
#define FIRST_COLS 16

enum { K_NUM = 'n', K_STR = 's', K_VEC = 'v', K_RAG = 'r', K_SPARSE = 'k', K_STRS = 'S' };
/* what build gives a K_VEC column of nested lists: payload (values, shape) */
#define K_NESTED 'N'

/* Sparse tensor objects (requests): at most this many dimensions, and digits a key or a
 * dimension (as the request scanner, _cjson.c). */
#define MAX_RANK 8
#define MAX_UINT_DIGITS 18

/* Check mode (Rule 7): the form of one value as the general path's column builder keys it
 * (_ColumnBuilder._add): its shape (rank -1: none, a tensor object of values alone), its
 * number of values and flags. Unused dims are 0, so that two forms compare by their bytes. */
enum { F_BYTES = 1, F_KEYED = 2, F_SPARSE = 4 };
#define K_MIX 'm'

typedef struct {
    int32_t flags;
    int32_t rank;
    int64_t size;
    int64_t dims[MAX_RANK];
} Form;

typedef struct {
    const char *name; /* key bytes in the body (no escapes) */
    Py_ssize_t name_len;
    int kind;
    Py_ssize_t width; /* K_VEC: numbers per record */
    double *vals;     /* K_NUM / K_VEC / K_RAG */
    Py_ssize_t nvals, cap;
    int64_t *counts; /* K_RAG: numbers per record, RAG_SCALAR for a number */
    Py_ssize_t ncounts, ccap;
    Py_ssize_t *spans; /* K_STR: start, end (negative end: has escapes) per record */
    Py_ssize_t nspans, scap;
    Py_ssize_t stamp;   /* last record that set it */
    Py_ssize_t present; /* records that hold the key (the values above are theirs) */
    int64_t *index;     /* the record of each of them, once a record lacks the key (else NULL) */
    Py_ssize_t nindex, icap;
    int ctx; /* where the key is: CTX_TOP, or inside a record's "data" or "label" object */
    Py_ssize_t wrapped; /* records whose value is a tensor object ({"values": [...]}) */
    /* K_SPARSE: the keys of every record (one per value; counts: values per record), and
     * the shape every record has */
    int64_t *keys;
    Py_ssize_t nkeys, kcap;
    int rank;
    int64_t shape[MAX_RANK];
    int64_t swidth; /* the product of the shape */
    /* check mode: the form (an index into Scan.forms) of each present value, and whether
     * the key is a request's own uid, metadata or configuration (a string) */
    int32_t *fids;
    Py_ssize_t nfids, fidcap;
    int textfield;
    /* K_VEC of nested lists (rank >= 2): the shape every record's value has (K_NESTED out) */
    int nrank;
    int64_t nshape[MAX_RANK];
} Col;

/* The object a key is in (requests): the record itself, its "data" object (features), its
 * "label" object. The same name in two of them is two columns. */
enum { CTX_TOP = 0, CTX_DATA = 1, CTX_LABEL = 2 };

typedef struct {
    Gil g;
    const char *base;
    const char *end;
    int lines;
    int request; /* the envelope is {"instances": [...]} (requests), not a response's */
    int lists;   /* lists of strings are read (requests always) */
    const char *rec_at; /* where record rec_n, the last one begun, begins */
    Py_ssize_t rec_n;
    int grammar; /* SMP_JSON, or SMP_JSON_NAN with allow_nan */
    Col *cols;
    Py_ssize_t ncols, colcap;
    Py_ssize_t nplain; /* the columns that are not a request's uid, metadata, configuration */
    int full;          /* it stopped at a new key past MAX_KEYS columns */
    Py_ssize_t nbare;     /* records that are a bare list, number or string */
    Py_ssize_t nbare_str; /* of them, strings and lists of strings */
    int no_bare;       /* (a projections or scores envelope) none may be */
    int empties;       /* a response of only {} is read: records without a column (not the
                        * Autopilot reader's texts, not in check mode) */
    Py_ssize_t nrec;
    /* the keys by name: an open-addressing table of column indices (-1: empty), at most
     * half full */
    int16_t *slots;
    /* key table probes left (proportional to the body): past it the kernel declines, so
     * that keys made to collide cannot make the scan slower than linear */
    Py_ssize_t budget;
    /* check mode (Rule 7): every value's form, the forms seen (found by an open-addressing
     * table of their indices, at most half full), where each record begins, and room to
     * unescape a string for its check */
    int check;
    const char *val_at; /* where the value last begun begins (NULL: none in this record) */
    Form *forms;
    Py_ssize_t nforms, formcap;
    int32_t *fslots;
    Py_ssize_t nfslots;
    int64_t *offs;
    Py_ssize_t noffs, offcap;
    char *tmp;
    Py_ssize_t tmpcap;
} Scan;

/* a[0:n] == b[0:n], word by word (keys are short: no call). */
static inline int same_bytes(const char *a, const char *b, Py_ssize_t n) {
    uint64_t x, y;
    while (n >= 8) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return 0;
        a += 8;
        b += 8;
        n -= 8;
    }
    while (n > 0) {
        if (*a++ != *b++) return 0;
        n--;
    }
    return 1;
}

/* Slots of the key table: a power of two, twice MAX_KEYS (at most about half full). */
#define SLOTS (2 * MAX_KEYS)

/* Room for one more column: the table doubled (its new part zeroed), at most
 * MAX_KEYS + TEXT_KEYS long; -1 when out of memory (the scan declines: the general
 * path decides). No Col pointer is held across a new key. */
static int more_cols(Scan *s) {
    Py_ssize_t n = s->colcap * 2 < MAX_KEYS + TEXT_KEYS ? s->colcap * 2 : MAX_KEYS + TEXT_KEYS;
    Col *p;
    if (n <= s->colcap) return -1;
    p = (Col *)realloc(s->cols, (size_t)n * sizeof(Col));
    if (p == NULL) return -1;
    memset(p + s->colcap, 0, (size_t)(n - s->colcap) * sizeof(Col));
    s->cols = p;
    s->colcap = n;
    return 0;
}

/* The column named a[0:n] in object ctx: 1 with it in *col, 0 when there is none (*slot:
 * the empty slot where it would go), -1 when the probe budget ran out. */
static int find_col(Scan *s, const char *a, Py_ssize_t n, int ctx, Col **col, size_t *slot) {
    uint64_t h = 0xCBF29CE484222325ULL ^ (uint64_t)ctx; /* FNV-1a, from the object's number */
    size_t i;
    Py_ssize_t k;
    for (k = 0; k < n; k++) h = (h ^ (unsigned char)a[k]) * 0x100000001B3ULL;
    i = (size_t)(h ^ (h >> 32)) & (SLOTS - 1);
    for (;;) {
        int c = s->slots[i];
        if (--s->budget < 0) return -1;
        if (c < 0) {
            *slot = i;
            return 0;
        }
        if (s->cols[c].name_len == n && s->cols[c].ctx == ctx) {
            /* a comparison reads the key: each 8 bytes of it spend one more probe, so that
             * long keys of one length made to collide cost at most the budget (Rule 5) */
            s->budget -= n >> 3;
            if (same_bytes(s->cols[c].name, a, n)) {
                *col = &s->cols[c];
                return 1;
            }
        }
        i = (i + 1) & (SLOTS - 1);
    }
}

static int grow(void **buf, Py_ssize_t *cap, Py_ssize_t need, size_t item) {
    Py_ssize_t n;
    void *p;
    if (need <= *cap) return 0;
    n = *cap ? *cap : 1024;
    while (n < need) {
        if (n > PY_SSIZE_T_MAX / 2 / (Py_ssize_t)item) return -1;
        n *= 2;
    }
    p = realloc(*buf, (size_t)n * item);
    if (p == NULL) return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* The count of a number in a K_RAG column (one value of shape ()). */
#define RAG_SCALAR (-1)

/* col (K_NUM or K_VEC) becomes K_RAG after nrec values: the counts of the records before
 * (each RAG_SCALAR, or the width), so that numbers and lists of any length mix (Rule 1). */
static int to_ragged(Col *col, Py_ssize_t nrec) {
    Py_ssize_t i;
    int64_t c = col->kind == K_NUM ? RAG_SCALAR : (int64_t)col->width;
    if (grow((void **)&col->counts, &col->ccap, nrec + 1, sizeof(int64_t)) < 0) return -1;
    for (i = 0; i < nrec; i++) col->counts[i] = c;
    col->ncounts = nrec;
    col->kind = K_RAG;
    return 0;
}

static int put_count(Col *col, int64_t c) {
    if (col->ncounts + 1 > col->ccap && grow((void **)&col->counts, &col->ccap, col->ncounts + 1, sizeof(int64_t)) < 0)
        return -1;
    col->counts[col->ncounts++] = c;
    return 0;
}

/* JSON blanks; in JSON Lines a record stays on its line (no '\n' inside). */
static inline const char *skip_ws(const Scan *s, const char *p) {
    const char *end = s->end;
    if (s->lines) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    } else {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    }
    return p;
}

/* After a member of a list or an object at p: blanks, then ',' (*more = 1: the position of
 * the next member, after blanks) or `close` (*more = 0: the position after it); NULL for
 * anything else. */
static inline const char *after_member(const Scan *s, const char *p, char close, int *more) {
    p = skip_ws(s, p);
    if (p >= s->end) return NULL;
    if (*p == ',') {
        *more = 1;
        return skip_ws(s, p + 1);
    }
    if (*p != close) return NULL;
    *more = 0;
    return p + 1;
}

/* A string at p (on its '"'): sets [*a, *b) to its inside, *esc when it holds a backslash.
 * Returns the position after the closing quote, or NULL (control byte, no end). */
static inline const char *scan_string(const char *p, const char *end, const char **a, const char **b, int *esc) {
    unsigned char c;
    p++;
    *a = p;
    *esc = 0;
    while (p < end) {
        c = (unsigned char)*p;
        if (c == '"') {
            *b = p;
            return p + 1;
        }
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (end - p < 2) return NULL;
            *esc = 1;
            p += 2;
            continue;
        }
        p++;
    }
    return NULL;
}

/* A list of numbers at p (on its '['): appended to col->vals; *count set. */
static const char *scan_vector(Scan *s, const char *p, Col *col, Py_ssize_t *count) {
    const char *end = s->end;
    int more;
    Py_ssize_t k = 0;
    p = skip_ws(s, p + 1);
    if (p < end && *p == ']') {
        *count = 0;
        return p + 1;
    }
    for (;;) {
        if (col->nvals + 1 > col->cap && grow((void **)&col->vals, &col->cap, col->nvals + 1, sizeof(double)) < 0)
            return NULL;
        p = smp_number(&s->g, p, end, s->grammar, 0, col->vals + col->nvals);
        if (p == NULL) return NULL;
        col->nvals++;
        k++;
        p = after_member(s, p, ']', &more);
        if (p == NULL) return NULL;
        if (!more) break;
    }
    *count = k;
    return p;
}

static const char *scan_value(Scan *s, const char *p, Col *col, int first);
static const char *check_value(Scan *s, const char *p, Col *col);

/* A list of k numbers, just appended to col->vals, as one record's value of col. */
static int list_kind(Col *col, int first, Py_ssize_t k) {
    if (first) {
        col->kind = K_VEC;
        col->width = k;
        return 0;
    }
    if (col->nrank) return -1; /* a flat list among nested lists: the general path */
    if (col->kind == K_NUM) {
        if (to_ragged(col, col->present) < 0) return -1;
    } else if (col->kind == K_VEC) {
        if (k != col->width && to_ragged(col, col->present) < 0) return -1;
    } else if (col->kind != K_RAG) {
        return -1;
    }
    if (col->kind == K_RAG && put_count(col, k) < 0) return -1;
    return 0;
}

/* A non-negative JSON integer at p (-0 is 0), as the request scanner reads one. */
static const char *uint_at(const Scan *s, const char *p, int64_t *v) {
    const char *end = s->end;
    int64_t x = 0;
    int nd = 0;
    if (p < end && *p == '-') {
        p++;
        if (p >= end || *p != '0') return NULL;
    }
    if (p >= end || !is_digit((unsigned char)*p)) return NULL;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit((unsigned char)*p)) {
            if (++nd > MAX_UINT_DIGITS) return NULL;
            x = x * 10 + (*p - '0');
            p++;
        }
    }
    /* a fraction or an exponent makes it a float, which the general path refuses here */
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E' || is_digit((unsigned char)*p))) return NULL;
    *v = x;
    return p;
}

/* Non-negative integers at p ('['): appended to col->keys (keys), or into shape[] (at most
 * MAX_RANK); *count is how many. */
static const char *uint_list(Scan *s, const char *p, Col *col, int64_t *shape, Py_ssize_t *count) {
    const char *end = s->end;
    int more;
    Py_ssize_t n = 0;
    if (p >= end || *p != '[') return NULL;
    p = skip_ws(s, p + 1);
    if (p < end && *p == ']') {
        *count = 0;
        return p + 1;
    }
    for (;;) {
        int64_t v;
        p = uint_at(s, p, &v);
        if (p == NULL) return NULL;
        if (shape == NULL) {
            if (col->nkeys + 1 > col->kcap &&
                grow((void **)&col->keys, &col->kcap, col->nkeys + 1, sizeof(int64_t)) < 0)
                return NULL;
            col->keys[col->nkeys++] = v;
        } else {
            if (n >= MAX_RANK) return NULL;
            shape[n] = v;
        }
        n++;
        p = after_member(s, p, ']', &more);
        if (p == NULL) return NULL;
        if (!more) {
            *count = n;
            return p;
        }
    }
}

/* A sparse record of col (its shape[rank]): the column's kind K_SPARSE with that shape,
 * set by its first record; 0, or -1 to decline. */
static int sparse_kind(Col *col, int first, const int64_t *shape, Py_ssize_t rank) {
    Py_ssize_t i;
    if (first) {
        int64_t w = 1;
        col->kind = K_SPARSE;
        col->rank = (int)rank;
        for (i = 0; i < rank; i++) {
            col->shape[i] = shape[i];
            if (shape[i] != 0 && w > ((int64_t)1 << 62) / shape[i]) return -1;
            w *= shape[i];
        }
        col->swidth = w;
        return 0;
    }
    if (col->kind != K_SPARSE || col->rank != rank) return -1;
    for (i = 0; i < rank; i++)
        if (col->shape[i] != shape[i]) return -1;
    return 0;
}

/* A tensor object at p (on its '{'; requests, responses but Autopilot's), what the request scanner (_cjson.c,
 * column_value) reads of one, read the same way: without keys and shape the list of its
 * values (none: an empty list), as the general path reads it; with keys and a shape a
 * sparse record (a shape of rank >= 1, one key per value, every key inside the shape, the
 * same shape in every record of the column); a shape without values an empty sparse row;
 * a shape of rank 1 equal to the values' count a list; each part at most once, in any
 * order. Anything else declines. */
static const char *scan_tensor(Scan *s, const char *p, Col *col, int first) {
    const char *end = s->end;
    int more;
    Py_ssize_t nv = 0, nk = 0, rank = 0, keys_at = col->nkeys, i;
    int64_t shape[MAX_RANK];
    int seen = 0; /* 1 values, 2 keys, 4 shape */
    p = skip_ws(s, p + 1);
    if (p < end && *p == '}') {
        /* {}: no values and no shape, as the grammar reads {"values": []} (8-byte records of
         * them were 566 ns a byte and 38 x the body on the general path) */
        if (list_kind(col, first, 0) < 0) return NULL;
        col->wrapped++;
        return p + 1;
    }
    for (;;) {
        const char *a, *b;
        int esc;
        Py_ssize_t len;
        if (p >= end || *p != '"') return NULL;
        p = scan_string(p, end, &a, &b, &esc);
        if (p == NULL || esc) return NULL;
        len = b - a;
        p = skip_ws(s, p);
        if (p >= end || *p != ':') return NULL;
        p = skip_ws(s, p + 1);
        if (len == 6 && memcmp(a, "values", 6) == 0) {
            if (seen & 1) return NULL;
            seen |= 1;
            if (p >= end || *p != '[') return NULL;
            p = scan_vector(s, p, col, &nv);
        } else if (len == 4 && memcmp(a, "keys", 4) == 0) {
            if (seen & 2) return NULL;
            seen |= 2;
            p = uint_list(s, p, col, NULL, &nk);
        } else if (len == 5 && memcmp(a, "shape", 5) == 0) {
            if (seen & 4) return NULL;
            seen |= 4;
            p = uint_list(s, p, col, shape, &rank);
        } else {
            return NULL;
        }
        if (p == NULL) return NULL;
        p = after_member(s, p, '}', &more);
        if (p == NULL) return NULL;
        if (!more) break;
    }
    if (nk > 0) {
        if (!(seen & 4) || rank == 0 || nk != nv || sparse_kind(col, first, shape, rank) < 0) return NULL;
        for (i = keys_at; i < col->nkeys; i++)
            if (col->keys[i] >= col->swidth) return NULL;
    } else if (seen & 4) {
        int64_t size = 1;
        for (i = 0; i < rank; i++) {
            if (shape[i] != 0 && size > ((int64_t)1 << 62) / shape[i]) return NULL;
            size *= shape[i];
        }
        if (nv == 0 && size > 0) {
            /* an empty sparse row: a shape without values */
            if (rank == 0 || sparse_kind(col, first, shape, rank) < 0) return NULL;
        } else {
            /* a list with its length as shape (other ranks: the general path) */
            if (rank != 1 || size != nv || list_kind(col, first, nv) < 0) return NULL;
            return p;
        }
    } else {
        if (list_kind(col, first, nv) < 0) return NULL;
        col->wrapped++; /* values alone: no shape */
        return p;
    }
    if (put_count(col, nv) < 0) return NULL;
    return p;
}

/* The string at p (on its '"') as one more span of col (start, end; a negative end when it
 * holds escapes); the position after it, or NULL. */
static const char *scan_span(Scan *s, const char *p, Col *col) {
    const char *a, *b;
    int esc;
    p = scan_string(p, s->end, &a, &b, &esc);
    if (p == NULL) return NULL;
    if (col->nspans + 2 > col->scap && grow((void **)&col->spans, &col->scap, col->nspans + 2, sizeof(Py_ssize_t)) < 0)
        return NULL;
    col->spans[col->nspans++] = a - s->base;
    col->spans[col->nspans++] = esc ? -(b - s->base) - 1 : b - s->base;
    return p;
}

/* A list of strings (requests, or with `lists`), p on its first string: one record of a K_STRS column
 * (spans as K_STR's, a count per record). */
static const char *scan_texts(Scan *s, const char *p, Col *col, int first) {
    const char *end = s->end;
    int more;
    Py_ssize_t k = 0;
    if (first) col->kind = K_STRS;
    else if (col->kind != K_STRS) return NULL;
    for (;;) {
        if (p >= end || *p != '"') return NULL;
        p = scan_span(s, p, col);
        if (p == NULL) return NULL;
        k++;
        p = after_member(s, p, ']', &more);
        if (p == NULL) return NULL;
        if (!more) break;
    }
    if (put_count(col, k) < 0) return NULL;
    return p;
}

/* A rectangular nested list of numbers at p (a '[' at depth d): its numbers appended to
 * col->vals, the length of each level into shape[] (-1: not seen yet), the depth of the
 * numbers into *rank (0: not seen yet; an empty list is the deepest level, of length 0).
 * NULL for a ragged or mixed level, more than MAX_RANK levels, or anything but numbers (as
 * the request scanner reads one). */
static const char *nested_list(Scan *s, const char *p, Col *col, int d, int64_t *shape, int *rank) {
    const char *end = s->end;
    int64_t k = 0;
    int inner, more;
    if (d >= MAX_RANK || p >= end || *p != '[') return NULL;
    p = skip_ws(s, p + 1);
    if (p >= end) return NULL;
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
    inner = *p == '[';
    if (inner) {
        if (*rank != 0 && *rank <= d + 1) return NULL;
    } else if (*rank == 0) {
        *rank = d + 1;
    } else if (*rank != d + 1) {
        return NULL;
    }
    for (;;) {
        if (inner) {
            p = nested_list(s, p, col, d + 1, shape, rank);
        } else {
            if (col->nvals + 1 > col->cap && grow((void **)&col->vals, &col->cap, col->nvals + 1, sizeof(double)) < 0)
                return NULL;
            p = smp_number(&s->g, p, end, s->grammar, 0, col->vals + col->nvals);
            if (p != NULL) col->nvals++;
        }
        if (p == NULL) return NULL;
        k++;
        p = after_member(s, p, ']', &more);
        if (p == NULL) return NULL;
        if (!more) break;
    }
    if (shape[d] < 0) shape[d] = k;
    else if (shape[d] != k) return NULL;
    return p;
}

/* A nested list (rank >= 2, just read) as one record's value of col: the column's kind
 * (K_VEC with that shape) set by its first record, the same shape in every other; 0, or -1
 * to decline (a column of flat lists or numbers, another shape: the general path). */
static int nested_kind(Col *col, int first, int rank, const int64_t *shape) {
    int d;
    int64_t w = 1;
    for (d = 0; d < rank; d++) w *= shape[d]; /* (at most the values read: no overflow) */
    if (first) {
        col->kind = K_VEC;
        col->width = w;
        col->nrank = rank;
        for (d = 0; d < rank; d++) col->nshape[d] = shape[d];
        return 0;
    }
    if (col->kind != K_VEC || col->nrank != rank) return -1;
    for (d = 0; d < rank; d++)
        if (col->nshape[d] != shape[d]) return -1;
    return 0;
}

/* The value of one key at p into col (its kind fixed by the first record, or set now when
 * `first`). */
static const char *scan_value(Scan *s, const char *p, Col *col, int first) {
    const char *end = s->end;
    if (p >= end) return NULL;
    if (*p == '"') {
        if (first) col->kind = K_STR;
        else if (col->kind != K_STR) return NULL;
        return scan_span(s, p, col);
    }
    if (*p == '[' && s->lists) {
        const char *q = skip_ws(s, p + 1);
        if (q < end && *q == '"') return scan_texts(s, q, col, first);
    }
    if (*p == '[') {
        Py_ssize_t k;
        const char *q = skip_ws(s, p + 1);
        if (q < end && *q == '[') {
            /* nested lists of one shape (rank >= 2), as the request scanner reads them */
            int64_t shape[MAX_RANK];
            int rank = 0, d;
            for (d = 0; d < MAX_RANK; d++) shape[d] = -1;
            p = nested_list(s, p, col, 0, shape, &rank);
            if (p == NULL || rank < 2 || nested_kind(col, first, rank, shape) < 0) return NULL;
            return p;
        }
        p = scan_vector(s, p, col, &k);
        if (p == NULL || list_kind(col, first, k) < 0) return NULL;
        return p;
    }
    if (*p == '-' || is_digit((unsigned char)*p) || (s->grammar == SMP_JSON_NAN && (*p == 'N' || *p == 'I'))) {
        if (first) col->kind = K_NUM;
        else if (col->kind == K_VEC && col->nrank) return NULL; /* a number among nested lists */
        else if (col->kind == K_VEC && to_ragged(col, col->present) < 0) return NULL;
        else if (col->kind != K_NUM && col->kind != K_RAG) return NULL;
        if (col->nvals + 1 > col->cap && grow((void **)&col->vals, &col->cap, col->nvals + 1, sizeof(double)) < 0)
            return NULL;
        p = smp_number(&s->g, p, end, s->grammar, 0, col->vals + col->nvals);
        if (p == NULL) return NULL;
        col->nvals++;
        if (col->kind == K_RAG && put_count(col, RAG_SCALAR) < 0) return NULL;
        return p;
    }
    /* a tensor object: a request's, and a response's but the Autopilot reader's (texts) */
    if (*p == '{' && (s->request || s->empties)) return scan_tensor(s, p, col, first);
    return NULL; /* true, false, null, another object: the general path */
}

/* col->index for a column held by records 0..present-1 so far (an index begins once a
 * record lacks the key): those records. */
static int open_index(Col *col) {
    Py_ssize_t i;
    if (col->index != NULL) return 0;
    if (grow((void **)&col->index, &col->icap, col->present + 1, sizeof(int64_t)) < 0) return -1;
    for (i = 0; i < col->present; i++) col->index[i] = i;
    col->nindex = col->present;
    return 0;
}

/* Record s->nrec holds col: noted in col->index once a record before it lacked the key
 * (the index then lists every record that holds it). */
static int note_present(Scan *s, Col *col) {
    if (col->index == NULL && col->present == s->nrec) return 0; /* no record lacked it so far */
    if (open_index(col) < 0) return -1;
    if (col->nindex + 1 > col->icap && grow((void **)&col->index, &col->icap, col->nindex + 1, sizeof(int64_t)) < 0)
        return -1;
    col->index[col->nindex++] = s->nrec;
    return 0;
}

/* In a request, the key at p (on its '"') is "data" or "label" and holds an object: its
 * context (CTX_DATA, CTX_LABEL) with *obj on the object's '{'; -1 when it is one of them
 * holding anything else (declines); else CTX_TOP. */
static int nested_key(const Scan *s, const char *p, const char **obj) {
    const char *end = s->end, *q;
    int ctx;
    if (end - p >= 6 && memcmp(p, "\"data\"", 6) == 0) {
        ctx = CTX_DATA;
        q = p + 6;
    } else if (end - p >= 7 && memcmp(p, "\"label\"", 7) == 0) {
        ctx = CTX_LABEL;
        q = p + 7;
    } else {
        return CTX_TOP;
    }
    q = skip_ws(s, q);
    if (q >= end || *q != ':') return -1;
    q = skip_ws(s, q + 1);
    if (q >= end || *q != '{') return -1; /* the general path's error (or, twice, the last) */
    *obj = q;
    return ctx;
}

/* A new column for the key a[0:len] of object ctx, in the key table's empty slot `slot`;
 * NULL past the columns the kernel reads (s->full set) or out of memory. */
static Col *new_col(Scan *s, const char *a, Py_ssize_t len, int ctx, size_t slot) {
    Col *col;
    int textfield = s->request && ctx == CTX_TOP &&
                    ((len == 3 && memcmp(a, "uid", 3) == 0) || (len == 8 && memcmp(a, "metadata", 8) == 0) ||
                     (len == 13 && memcmp(a, "configuration", 13) == 0));
    if (!textfield && s->nplain >= MAX_KEYS) {
        s->full = 1;
        return NULL;
    }
    if (s->ncols == s->colcap && more_cols(s) < 0) return NULL;
    s->slots[slot] = (int16_t)s->ncols;
    col = &s->cols[s->ncols++];
    s->nplain += !textfield;
    col->name = a;
    col->name_len = len;
    col->ctx = ctx;
    col->textfield = textfield;
    return col;
}

/* The keys of one object at p (on its '{') in context ctx: a record's own keys (CTX_TOP),
 * or those of its "data" or "label" object. A key's first record sets its kind; a key may
 * be missing from any record (Rule 1). *expect: the column the next key is tried as first
 * (the one after the previous key's). */
static const char *scan_object(Scan *s, const char *p, int ctx, Py_ssize_t *expect) {
    const char *end = s->end;
    int more;
    int seen_data = 0, seen_label = 0;
    p = skip_ws(s, p + 1);
    if (p < end && *p == '}') return p + 1;
    for (;;) {
        const char *a, *b;
        int esc, r;
        Col *col = NULL;
        Py_ssize_t len;
        size_t slot;
        if (p >= end || *p != '"') return NULL;
        if (ctx == CTX_TOP && s->request) {
            const char *obj;
            int sub = nested_key(s, p, &obj);
            if (sub < 0) return NULL;
            if (sub != CTX_TOP) {
                /* the object once per record (orjson, and so the general path, would keep
                 * the last of two) */
                int *seen = sub == CTX_DATA ? &seen_data : &seen_label;
                if (*seen) return NULL;
                *seen = 1;
                p = scan_object(s, obj, sub, expect);
                if (p == NULL) return NULL;
                goto next;
            }
        }
        if (*expect < s->ncols) {
            /* the key the previous record had here: its bytes and the closing quote (a
             * key as first seen, so without escapes or control bytes) */
            Col *c = &s->cols[*expect];
            if (c->ctx == ctx && end - p > c->name_len + 1 && p[c->name_len + 1] == '"' &&
                same_bytes(p + 1, c->name, c->name_len) && c->stamp != s->nrec) {
                col = c;
                p += c->name_len + 2;
                (*expect)++;
                goto found;
            }
        }
        p = scan_string(p, end, &a, &b, &esc);
        if (p == NULL || esc) return NULL;
        len = b - a;
        r = find_col(s, a, len, ctx, &col, &slot);
        if (r < 0) return NULL;
        if (r == 0) {
            col = new_col(s, a, len, ctx, slot);
            if (col == NULL) return NULL;
        } else if (col->stamp == s->nrec) {
            return NULL; /* a key twice */
        }
        *expect = (col - s->cols) + 1;
    found:
        col->stamp = s->nrec;
        if (note_present(s, col) < 0) return NULL;
        p = skip_ws(s, p);
        if (p >= end || *p != ':') return NULL;
        p = skip_ws(s, p + 1);
        s->val_at = p;
        p = s->check ? check_value(s, p, col) : scan_value(s, p, col, col->present == 0);
        if (p == NULL) return NULL;
        col->present++;
    next:
        p = after_member(s, p, '}', &more);
        if (p == NULL) return NULL;
        if (!more) break;
    }
    return p;
}

/* One record at p (on its '{'). */
static const char *scan_record(Scan *s, const char *p) {
    Py_ssize_t expect = 0;
    s->rec_at = p;
    s->rec_n = s->nrec;
    s->val_at = NULL;
    if (s->check) {
        if (s->noffs + 1 > s->offcap && grow((void **)&s->offs, &s->offcap, s->noffs + 1, sizeof(int64_t)) < 0)
            return NULL;
        s->offs[s->noffs++] = p - s->base;
    }
    p = scan_object(s, p, CTX_TOP, &expect);
    if (p == NULL) return NULL;
    s->nrec++;
    return p;
}

/* One record at p that is a bare list, number or string (not in check mode): the value of
 * a request's "features" key (a response's "values"), as the general path reads it. */
static const char *scan_bare(Scan *s, const char *p) {
    const char *name = s->request ? "features" : "values";
    Py_ssize_t len = s->request ? 8 : 6;
    Col *col;
    size_t slot;
    int r;
    if (s->check || s->no_bare || p >= s->end ||
        !(*p == '[' || *p == '"' || *p == '-' || is_digit((unsigned char)*p) ||
          (s->grammar == SMP_JSON_NAN && (*p == 'N' || *p == 'I'))))
        return NULL;
    if (*p == '"') {
        s->nbare_str++;
    } else if (*p == '[') {
        /* a list of strings: the request scanner reads none either */
        const char *q = skip_ws(s, p + 1);
        s->nbare_str += q < s->end && *q == '"';
    }
    s->rec_at = p;
    s->rec_n = s->nrec;
    s->val_at = p;
    r = find_col(s, name, len, CTX_TOP, &col, &slot);
    if (r < 0) return NULL;
    if (r == 0) {
        col = new_col(s, name, len, CTX_TOP, slot);
        if (col == NULL) return NULL;
    }
    col->stamp = s->nrec;
    if (note_present(s, col) < 0) return NULL;
    p = scan_value(s, p, col, col->present == 0);
    if (p == NULL) return NULL;
    col->present++;
    s->nbare++;
    s->nrec++;
    return p;
}

/* A record at p: an object, or (not in check mode) a bare list or number. */
static inline const char *any_record(Scan *s, const char *p) {
    return *p == '{' ? scan_record(s, p) : scan_bare(s, p);
}

/* The whole body; 1 when it is one of the accepted shapes, else 0. */
static int scan_body(Scan *s, const char *p) {
    const char *end = s->end;
    int more;
    int envelope = 0;
    if (s->lines) {
        for (;;) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
            if (p >= end) break;
            p = any_record(s, p);
            if (p == NULL) return 0;
            p = skip_ws(s, p);
            if (p < end && *p != '\n') return 0;
        }
        /* a response of only {} declines but where empties; so do bare lists and numbers
         * alone (the request scanner's) */
        return s->nrec > 0 && (s->request || s->ncols > 0 || s->empties) && (s->nbare < s->nrec || s->nbare_str > 0);
    }
    p = skip_ws(s, p);
    if (p >= end) return 0;
    if (*p == '{') {
        const char *a, *b, *open = p;
        int esc;
        Py_ssize_t len, j;
        p = skip_ws(s, p + 1);
        if (p >= end || *p != '"') return 0;
        p = scan_string(p, end, &a, &b, &esc);
        if (p == NULL || esc) return 0;
        len = b - a;
        if (s->request && !(len == 9 && memcmp(a, "instances", 9) == 0)) {
            /* a request document that is one record object (an "instances" key after
             * others is the general path's error) */
            p = scan_record(s, open);
            if (p == NULL || skip_ws(s, p) != end) return 0;
            for (j = 0; j < s->ncols; j++)
                if (s->cols[j].ctx == CTX_TOP && s->cols[j].name_len == 9 && memcmp(s->cols[j].name, "instances", 9) == 0)
                    return 0;
            return 1;
        }
        if (!s->request && !((len == 11 && memcmp(a, "predictions", 11) == 0) ||
                             (len == 11 && memcmp(a, "projections", 11) == 0) || (len == 6 && memcmp(a, "scores", 6) == 0)))
            return 0;
        /* projections and scores are an envelope only when every item is an object */
        if (!s->request && !(len == 11 && memcmp(a, "predictions", 11) == 0)) s->no_bare = 1;
        p = skip_ws(s, p);
        if (p >= end || *p != ':') return 0;
        p = skip_ws(s, p + 1);
        envelope = 1;
    }
    if (p >= end || *p != '[') return 0;
    p = skip_ws(s, p + 1);
    for (;;) {
        if (p >= end) return 0;
        p = any_record(s, p);
        if (p == NULL) return 0;
        p = after_member(s, p, ']', &more);
        if (p == NULL) return 0;
        if (!more) break;
    }
    p = skip_ws(s, p);
    if (envelope) {
        if (p >= end || *p != '}') return 0;
        p = skip_ws(s, p + 1);
    }
    /* a response of only {} declines; so do bare lists and numbers alone (a list of numbers
     * is one record, and the request scanner reads lists) */
    return p == end && (s->request || s->ncols > 0 || s->empties) && (s->nbare < s->nrec || s->nbare_str > 0);
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int hex4(const char *p, const char *end) {
    int v = 0, i, h;
    if (end - p < 4) return -1;
    for (i = 0; i < 4; i++) {
        h = hexval((unsigned char)p[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The inside of a string with escapes, unescaped as UTF-8 into out (room for b - a bytes:
 * an escape is never shorter than what it stands for). Returns the length, or -1. */
static Py_ssize_t unescape(const char *a, const char *b, char *out) {
    char *o = out;
    while (a < b) {
        unsigned char c = (unsigned char)*a;
        long cp;
        if (c != '\\') {
            *o++ = (char)c;
            a++;
            continue;
        }
        if (b - a < 2) return -1;
        switch (a[1]) {
        case '"': *o++ = '"'; a += 2; continue;
        case '\\': *o++ = '\\'; a += 2; continue;
        case '/': *o++ = '/'; a += 2; continue;
        case 'b': *o++ = '\b'; a += 2; continue;
        case 'f': *o++ = '\f'; a += 2; continue;
        case 'n': *o++ = '\n'; a += 2; continue;
        case 'r': *o++ = '\r'; a += 2; continue;
        case 't': *o++ = '\t'; a += 2; continue;
        case 'u': break;
        default: return -1;
        }
        cp = hex4(a + 2, b);
        if (cp < 0) return -1;
        a += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo;
            if (b - a < 6 || a[0] != '\\' || a[1] != 'u') return -1;
            lo = hex4(a + 2, b);
            if (lo < 0xDC00 || lo > 0xDFFF) return -1;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            a += 6;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return -1;
        }
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | (cp >> 12));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | (cp >> 18));
            *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
            *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o - out;
}

/* The str objects of a string column (a list), or NULL: with an exception set when
 * memory ran out, without one when a string declines. */
static PyObject *build_strings(const Scan *s, const Col *col) {
    PyObject *list = PyList_New(col->nspans / 2);
    PyObject *prev = NULL;
    const char *pa = NULL;
    Py_ssize_t plen = -1, i;
    char *tmp = NULL;
    Py_ssize_t tcap = 0;
    if (list == NULL) return NULL;
    for (i = 0; i < col->nspans / 2; i++) {
        Py_ssize_t a = col->spans[2 * i], b = col->spans[2 * i + 1];
        PyObject *str;
        if (b >= 0) {
            const char *p = s->base + a;
            Py_ssize_t len = b - a;
            if (prev != NULL && len == plen && memcmp(p, pa, (size_t)len) == 0) {
                Py_INCREF(prev);
                PyList_SET_ITEM(list, i, prev);
                continue;
            }
            str = PyUnicode_DecodeUTF8(p, len, NULL);
            if (str == NULL) goto bad;
            pa = p;
            plen = len;
            prev = str;
        } else {
            Py_ssize_t len;
            b = -b - 1;
            if (b - a > tcap) {
                char *t = (char *)realloc(tmp, (size_t)(b - a));
                if (t == NULL) {
                    PyErr_NoMemory();
                    goto fail;
                }
                tmp = t;
                tcap = b - a;
            }
            len = unescape(s->base + a, s->base + b, tmp);
            if (len < 0) goto decline;
            str = PyUnicode_DecodeUTF8(tmp, len, NULL);
            if (str == NULL) goto bad;
            prev = NULL;
        }
        PyList_SET_ITEM(list, i, str);
    }
    free(tmp);
    return list;
bad:
    if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) goto fail;
    PyErr_Clear();
decline:
    free(tmp);
    Py_DECREF(list);
    return NULL;
fail:
    free(tmp);
    Py_DECREF(list);
    return NULL;
}

/* A K_STRS column's records: a list of the records' lists of str; NULL as build_strings. */
static PyObject *build_string_lists(const Scan *s, const Col *col) {
    PyObject *flat = build_strings(s, col), *out;
    Py_ssize_t i, at = 0;
    if (flat == NULL) return NULL;
    out = PyList_New(col->ncounts);
    if (out == NULL) {
        Py_DECREF(flat);
        return NULL;
    }
    for (i = 0; i < col->ncounts; i++) {
        PyObject *one = PyList_GetSlice(flat, at, at + (Py_ssize_t)col->counts[i]);
        if (one == NULL) {
            Py_DECREF(flat);
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, one);
        at += (Py_ssize_t)col->counts[i];
    }
    Py_DECREF(flat);
    return out;
}

/* 1 when p[0:n] is UTF-8 as Python's strict decoder reads it (no surrogates, no overlong
 * forms, nothing past U+10FFFF), else 0. */
static int utf8_ok(const unsigned char *p, Py_ssize_t n) {
    const unsigned char *end = p + n;
    while (p < end) {
        unsigned char c = *p;
        if (c < 0x80) {
            uint64_t w;
            if (end - p >= 8) {
                memcpy(&w, p, 8);
                if ((w & 0x8080808080808080ULL) == 0) {
                    p += 8;
                    continue;
                }
            }
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (end - p < 2 || (p[1] & 0xC0) != 0x80) return 0;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (end - p < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80) return 0;
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (end - p < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
            p += 4;
        } else {
            return 0;
        }
    }
    return 1;
}

/* A string column's values joined by '\n' (texts mode, Rule 3): a bytes object of exactly
 * one line per value; Py_None (a new reference) when a value holds a '\n' itself, as
 * built (the caller builds the str list);
 * NULL with an exception when memory ran out, without one when a string declines. */
static PyObject *build_joined(const Scan *s, const Col *col) {
    Py_ssize_t total = col->present > 0 ? col->present - 1 : 0, i;
    PyObject *out;
    char *o, *stop;
    for (i = 0; i < col->present; i++) {
        Py_ssize_t a = col->spans[2 * i], b = col->spans[2 * i + 1];
        total += (b >= 0 ? b : -b - 1) - a; /* escapes only shrink */
    }
    out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) return NULL;
    o = PyBytes_AS_STRING(out);
    for (i = 0; i < col->present; i++) {
        Py_ssize_t a = col->spans[2 * i], b = col->spans[2 * i + 1], len;
        if (i > 0) *o++ = '\n';
        if (b >= 0) {
            len = b - a;
            memcpy(o, s->base + a, (size_t)len);
        } else {
            len = unescape(s->base + a, s->base + (-b - 1), o);
            if (len < 0) {
                Py_DECREF(out);
                return NULL;
            }
        }
        o += len;
    }
    stop = o;
    {
        /* one line per value (i of them), else a value holds a '\n': an escape, or a byte
         * the scan read as another one (a finalizer run by the objects made since, or a
         * thread while the scan ran without the GIL, changed a bytearray) */
        const char *t = PyBytes_AS_STRING(out);
        Py_ssize_t k, nl = 0;
        for (k = 0; k < stop - t; k++) nl += t[k] == '\n';
        if (nl != (i > 0 ? i - 1 : 0)) {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
    }
    if (!utf8_ok((const unsigned char *)PyBytes_AS_STRING(out), stop - PyBytes_AS_STRING(out))) {
        Py_DECREF(out);
        return NULL;
    }
    if (stop - PyBytes_AS_STRING(out) != total && _PyBytes_Resize(&out, stop - PyBytes_AS_STRING(out)) < 0) return NULL;
    return out;
}

/* A column's key as a str: its name, after "data\0" or "label\0" for a key of a record's
 * "data" or "label" object (a key read here holds no NUL: it would be a control byte, and
 * a key with escapes declines). NULL with an exception. */
static PyObject *key_name(const Col *col) {
    const char *prefix = col->ctx == CTX_DATA ? "data" : "label";
    Py_ssize_t plen = col->ctx == CTX_DATA ? 5 : 6; /* with the NUL */
    char *tmp;
    PyObject *key;
    if (col->ctx == CTX_TOP) return PyUnicode_DecodeUTF8(col->name, col->name_len, NULL);
    tmp = (char *)malloc((size_t)(plen + col->name_len) + 1);
    if (tmp == NULL) return PyErr_NoMemory();
    memcpy(tmp, prefix, (size_t)plen); /* the prefix's own NUL ends it */
    memcpy(tmp + plen, col->name, (size_t)col->name_len);
    key = PyUnicode_DecodeUTF8(tmp, plen + col->name_len, NULL);
    free(tmp);
    return key;
}

/* The result tuple (n, [(key, kind, payload, width, index), ...]); NULL with or without an
 * exception (see build_strings). */
/* A column's float64 values as a bytearray (NULL with an exception set). */
static PyObject *values_bytes(const Col *col) {
    return PyByteArray_FromStringAndSize(col->nvals ? (const char *)col->vals : "",
                                         col->nvals * (Py_ssize_t)sizeof(double));
}

/* A shape as a tuple of ints (NULL with an exception set). */
static PyObject *shape_tuple(const int64_t *dims, int rank) {
    PyObject *shape = PyTuple_New(rank);
    int d;
    for (d = 0; shape != NULL && d < rank; d++) {
        PyObject *x = PyLong_FromLongLong(dims[d]);
        if (x == NULL) {
            Py_CLEAR(shape);
            break;
        }
        PyTuple_SET_ITEM(shape, d, x);
    }
    return shape;
}

static PyObject *build(const Scan *s, int texts) {
    PyObject *cols = PyList_New(s->ncols), *out;
    Py_ssize_t j;
    if (cols == NULL) return NULL;
    for (j = 0; j < s->ncols; j++) {
        const Col *col = &s->cols[j];
        PyObject *key = key_name(col), *payload, *item, *index;
        if (key == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) PyErr_Clear();
            Py_DECREF(cols);
            return NULL;
        }
        if (col->kind == K_STRS) {
            payload = build_string_lists(s, col);
        } else if (col->kind == K_STR) {
            payload = texts ? build_joined(s, col) : build_strings(s, col);
            if (payload == Py_None) {
                Py_DECREF(payload);
                payload = build_strings(s, col);
            }
        } else if (col->kind == K_SPARSE) {
            PyObject *shape = shape_tuple(col->shape, col->rank), *v, *k, *c;
            v = values_bytes(col);
            k = PyByteArray_FromStringAndSize(col->nkeys ? (const char *)col->keys : "",
                                              col->nkeys * (Py_ssize_t)sizeof(int64_t));
            c = PyByteArray_FromStringAndSize(col->ncounts ? (const char *)col->counts : "",
                                              col->ncounts * (Py_ssize_t)sizeof(int64_t));
            if (shape == NULL || v == NULL || k == NULL || c == NULL) {
                Py_XDECREF(shape);
                Py_XDECREF(v);
                Py_XDECREF(k);
                Py_XDECREF(c);
                payload = NULL;
            } else {
                payload = Py_BuildValue("(NNNN)", v, k, c, shape);
            }
        } else if (col->kind == K_VEC && col->nrank) {
            PyObject *shape = shape_tuple(col->nshape, col->nrank), *v;
            v = values_bytes(col);
            if (shape == NULL || v == NULL) {
                Py_XDECREF(shape);
                Py_XDECREF(v);
                payload = NULL;
            } else {
                payload = Py_BuildValue("(NN)", v, shape);
            }
        } else if (col->kind == K_RAG) {
            PyObject *v = values_bytes(col);
            PyObject *c = PyByteArray_FromStringAndSize(col->ncounts ? (const char *)col->counts : "",
                                                        col->ncounts * (Py_ssize_t)sizeof(int64_t));
            if (v == NULL || c == NULL) {
                Py_XDECREF(v);
                Py_XDECREF(c);
                payload = NULL;
            } else {
                payload = Py_BuildValue("(NN)", v, c);
            }
        } else {
            payload = values_bytes(col);
        }
        if (payload == NULL) {
            Py_DECREF(key);
            Py_DECREF(cols);
            return NULL;
        }
        if (col->present != s->nrec) {
            /* the records that hold the key (json_records opened every such index) */
            index = PyByteArray_FromStringAndSize((const char *)col->index, col->nindex * (Py_ssize_t)sizeof(int64_t));
            if (index == NULL) {
                Py_DECREF(key);
                Py_DECREF(payload);
                Py_DECREF(cols);
                return NULL;
            }
        } else {
            index = Py_None;
            Py_INCREF(index);
        }
        item = Py_BuildValue("(NCNnN)", key, col->kind == K_VEC && col->nrank ? K_NESTED : col->kind, payload,
                             col->kind == K_VEC ? col->width : (Py_ssize_t)0,
                             index);
        if (item == NULL) {
            Py_DECREF(cols);
            return NULL;
        }
        PyList_SET_ITEM(cols, j, item);
    }
    out = Py_BuildValue("(nN)", s->nrec, cols);
    return out;
}

/* 1 when every string col holds (its spans: K_STR's and K_STRS's) is one the general path
 * reads (its escapes valid, no lone surrogate, and UTF-8), else 0. The scan checks neither:
 * build does, and a declined scan's `report` must not call records sound that hold such a
 * string (their error comes first). */
static int strings_ok(const Scan *s, const Col *col) {
    char *tmp = NULL;
    Py_ssize_t tcap = 0, i;
    int ok = 1;
    for (i = 0; ok && i + 1 < col->nspans; i += 2) {
        Py_ssize_t a = col->spans[i], b = col->spans[i + 1], len;
        if (b >= 0) {
            ok = utf8_ok((const unsigned char *)s->base + a, b - a);
            continue;
        }
        b = -b - 1;
        if (b - a > tcap) {
            char *t = (char *)realloc(tmp, (size_t)(b - a));
            if (t == NULL) {
                ok = 0; /* not known: not sound */
                break;
            }
            tmp = t;
            tcap = b - a;
        }
        len = unescape(s->base + a, s->base + b, tmp);
        ok = len >= 0 && utf8_ok((const unsigned char *)tmp, len);
    }
    free(tmp);
    return ok;
}

/* ------------------------------------------------------------------------------------
 * Check mode (Rule 7): the form of every value, without its values
 * ------------------------------------------------------------------------------------ */

/* The string at p (on its '"'), checked as the general path reads it (its escapes valid,
 * no lone surrogate, UTF-8): the position after it, or NULL. */
static const char *check_string(Scan *s, const char *p) {
    const char *a, *b;
    int esc;
    Py_ssize_t len;
    p = scan_string(p, s->end, &a, &b, &esc);
    if (p == NULL) return NULL;
    if (!esc) return utf8_ok((const unsigned char *)a, b - a) ? p : NULL;
    if (b - a > s->tmpcap) {
        char *t = (char *)realloc(s->tmp, (size_t)(b - a));
        if (t == NULL) return NULL; /* not known: the scan stops, the general path decides */
        s->tmp = t;
        s->tmpcap = b - a;
    }
    len = unescape(a, b, s->tmp);
    return len >= 0 && utf8_ok((const unsigned char *)s->tmp, len) ? p : NULL;
}

/* The number at p, read (and dropped) as the column's numbers are: its end, or NULL. */
static const char *check_number(Scan *s, const char *p) {
    double d;
    if (p >= s->end) return NULL;
    if (!(*p == '-' || is_digit((unsigned char)*p) || (s->grammar == SMP_JSON_NAN && (*p == 'N' || *p == 'I'))))
        return NULL;
    return smp_number(&s->g, p, s->end, s->grammar, 0, &d);
}

/* One level (d) of nested lists at p (on its '['): lists of the next level, or numbers at
 * the deepest (f->rank - 1); its length is dims[d], set by the first list of the level. */
static const char *nested_level(Scan *s, const char *p, int d, Form *f) {
    const char *end = s->end;
    int more;
    int64_t k = 0;
    p = skip_ws(s, p + 1);
    if (p < end && *p == ']') {
        p++;
    } else {
        for (;;) {
            if (d + 1 < f->rank) {
                if (p >= end || *p != '[') return NULL;
                p = nested_level(s, p, d + 1, f);
            } else {
                p = check_number(s, p);
            }
            if (p == NULL) return NULL;
            k++;
            p = after_member(s, p, ']', &more);
            if (p == NULL) return NULL;
            if (!more) break;
        }
    }
    if (f->dims[d] < 0) f->dims[d] = k;
    else if (f->dims[d] != k) return NULL;
    return p;
}

/* Nested lists at p (on its '[', its first member a list): a rectangular array of numbers
 * (every list of a level of one length, numbers at the deepest level only, at most
 * MAX_RANK levels), whose shape is the one numpy gives the general path (_nested); anything
 * else, a record's error, stops the scan. */
static const char *check_nested(Scan *s, const char *p, Form *f) {
    const char *q = p;
    int d, rank = 0;
    int64_t size = 1;
    while (q < s->end && *q == '[') {
        if (rank >= MAX_RANK) return NULL;
        rank++;
        q = skip_ws(s, q + 1);
    }
    f->rank = rank;
    for (d = 0; d < rank; d++) f->dims[d] = -1;
    p = nested_level(s, p, 0, f);
    if (p == NULL) return NULL;
    for (d = 0; d < rank; d++) {
        if (f->dims[d] != 0 && size > ((int64_t)1 << 62) / f->dims[d]) return NULL;
        size *= f->dims[d];
    }
    f->size = size;
    return p;
}

/* The members of a list at p (on its first member; the list is not empty) as strings
 * (`text`) or numbers, each checked: the position after the list, *count its length. */
static const char *check_items(Scan *s, const char *p, int text, int64_t *count) {
    int more;
    int64_t k = 0;
    for (;;) {
        if (text) {
            if (p >= s->end || *p != '"') return NULL;
            p = check_string(s, p);
        } else {
            p = check_number(s, p);
        }
        if (p == NULL) return NULL;
        k++;
        p = after_member(s, p, ']', &more);
        if (p == NULL) return NULL;
        if (!more) break;
    }
    *count = k;
    return p;
}

/* A list at p (on its '['): empty, of numbers, of strings, or nested lists. */
static const char *check_list(Scan *s, const char *p, Form *f) {
    const char *q = skip_ws(s, p + 1);
    int64_t k = 0;
    if (q >= s->end) return NULL;
    if (*q == '[') return check_nested(s, p, f);
    if (*q == ']') {
        q++;
    } else {
        if (*q == '"') f->flags = F_BYTES;
        q = check_items(s, q, *q == '"', &k);
        if (q == NULL) return NULL;
    }
    f->rank = 1;
    f->dims[0] = k;
    f->size = k;
    return q;
}

/* The product of dims[0:rank] in *out; -1 past 2**62. */
static int shape_size(const int64_t *dims, int rank, int64_t *out) {
    int64_t w = 1;
    int d;
    for (d = 0; d < rank; d++) {
        if (dims[d] != 0 && w > ((int64_t)1 << 62) / dims[d]) return -1;
        w *= dims[d];
    }
    *out = w;
    return 0;
}

/* A tensor object at p (on its '{'), read as the grammar reads one (_tensor_object):
 * values (numbers or strings), keys and shape, each at most once; with keys a sparse
 * record (numbers, a shape of rank >= 1, one key per value, each inside the shape); a
 * shape and no values an empty sparse row; a shape and values a dense tensor of that
 * shape; values alone a tensor without a shape. What the grammar refuses, and what it
 * reads but the route leaves to the general path (ranks past MAX_RANK, keys of more than
 * MAX_UINT_DIGITS digits, a shape of more than 2**62 values, an empty row of shape []),
 * stops the scan. */
static const char *check_tensor(Scan *s, const char *p, Form *f) {
    const char *end = s->end;
    int more, seen = 0, text = 0;
    int64_t nv = 0, nk = 0, top = -1, size;
    Py_ssize_t rank = 0;
    p = skip_ws(s, p + 1);
    if (p < end && *p == '}') {
        f->rank = -1; /* no values, no shape: an empty tensor */
        return p + 1;
    }
    for (;;) {
        const char *a, *b;
        int esc;
        Py_ssize_t len;
        if (p >= end || *p != '"') return NULL;
        p = scan_string(p, end, &a, &b, &esc);
        if (p == NULL || esc) return NULL;
        len = b - a;
        p = skip_ws(s, p);
        if (p >= end || *p != ':') return NULL;
        p = skip_ws(s, p + 1);
        if (p >= end || *p != '[') return NULL; /* values, keys and shape are lists */
        if (len == 6 && memcmp(a, "values", 6) == 0) {
            const char *q = skip_ws(s, p + 1);
            if (seen & 1) return NULL;
            seen |= 1;
            if (q < end && *q == ']') {
                p = q + 1;
            } else {
                text = q < end && *q == '"';
                p = check_items(s, q, text, &nv);
            }
        } else if (len == 4 && memcmp(a, "keys", 4) == 0) {
            if (seen & 2) return NULL;
            seen |= 2;
            p = skip_ws(s, p + 1);
            if (p < end && *p == ']') {
                p++;
            } else {
                for (;;) {
                    int64_t v;
                    p = uint_at(s, p, &v);
                    if (p == NULL) return NULL;
                    if (v > top) top = v;
                    nk++;
                    p = after_member(s, p, ']', &more);
                    if (p == NULL) return NULL;
                    if (!more) break;
                }
            }
        } else if (len == 5 && memcmp(a, "shape", 5) == 0) {
            if (seen & 4) return NULL;
            seen |= 4;
            p = uint_list(s, p, NULL, f->dims, &rank);
        } else {
            return NULL;
        }
        if (p == NULL) return NULL;
        p = after_member(s, p, '}', &more);
        if (p == NULL) return NULL;
        if (!more) break;
    }
    f->rank = (seen & 4) ? (int32_t)rank : -1;
    if ((seen & 4) && shape_size(f->dims, (int)rank, &size) < 0) return NULL;
    if (nk > 0) {
        if (text || !(seen & 4) || rank == 0 || nk != nv || top >= size) return NULL;
        f->flags = F_KEYED | F_SPARSE;
        f->size = nv;
    } else if (seen & 4) {
        if (nv == 0 && size > 0) {
            if (rank == 0) return NULL; /* an empty row of shape []: the general path */
            f->flags = F_KEYED | F_SPARSE; /* an empty sparse row */
        } else if (size != nv) {
            return NULL;
        }
        f->size = nv;
        if (text) f->flags = F_BYTES;
    } else {
        f->size = nv;
        if (text) f->flags = F_BYTES;
    }
    return p;
}

/* The index of form f in s->forms (added when new), or -1 when memory ran out. */
static int32_t form_id(Scan *s, const Form *f) {
    uint64_t h = 0xCBF29CE484222325ULL;
    const unsigned char *b = (const unsigned char *)f;
    size_t i, k;
    if (2 * (s->nforms + 1) > s->nfslots) {
        /* the table doubled (at least 64 slots), every form placed again */
        Py_ssize_t n = s->nfslots ? 2 * s->nfslots : 64, j;
        int32_t *t = (int32_t *)malloc((size_t)n * sizeof(int32_t));
        if (t == NULL) return -1;
        memset(t, 0xFF, (size_t)n * sizeof(int32_t));
        for (j = 0; j < s->nforms; j++) {
            uint64_t g = 0xCBF29CE484222325ULL;
            const unsigned char *c = (const unsigned char *)&s->forms[j];
            for (k = 0; k < sizeof(Form); k++) g = (g ^ c[k]) * 0x100000001B3ULL;
            i = (size_t)(g ^ (g >> 32)) & (size_t)(n - 1);
            while (t[i] >= 0) i = (i + 1) & (size_t)(n - 1);
            t[i] = (int32_t)j;
        }
        free(s->fslots);
        s->fslots = t;
        s->nfslots = n;
    }
    for (k = 0; k < sizeof(Form); k++) h = (h ^ b[k]) * 0x100000001B3ULL;
    i = (size_t)(h ^ (h >> 32)) & (size_t)(s->nfslots - 1);
    while (s->fslots[i] >= 0) {
        if (memcmp(&s->forms[s->fslots[i]], f, sizeof(Form)) == 0) return s->fslots[i];
        i = (i + 1) & (size_t)(s->nfslots - 1);
    }
    if (s->nforms >= INT32_MAX) return -1;
    if (s->nforms + 1 > s->formcap && grow((void **)&s->forms, &s->formcap, s->nforms + 1, sizeof(Form)) < 0)
        return -1;
    s->forms[s->nforms] = *f;
    s->fslots[i] = (int32_t)s->nforms;
    return (int32_t)s->nforms++;
}

/* The form of the value at p, as the grammar reads it (cell): the position after it,
 * or NULL (a value the grammar refuses, or one the route leaves to the general path:
 * true, false, null, another object...). */
static const char *read_form(Scan *s, const char *p, Form *f) {
    if (p >= s->end) return NULL;
    memset(f, 0, sizeof *f);
    if (*p == '"') {
        f->flags = F_BYTES;
        f->size = 1;
        return check_string(s, p);
    }
    if (*p == '[') return check_list(s, p, f);
    if (*p == '{') return check_tensor(s, p, f);
    f->size = 1;
    return check_number(s, p);
}

/* Check mode: the value of one key at p, its form (read_form) noted in col; a
 * request's own uid, metadata and configuration a string (anything else stops the
 * scan: the record's error, or a configuration object the general path reads). */
static const char *check_value(Scan *s, const char *p, Col *col) {
    Form f;
    int32_t id;
    if (p >= s->end) return NULL;
    if (col->textfield) {
        if (*p != '"') return NULL;
        col->kind = K_STR;
        return check_string(s, p);
    }
    p = read_form(s, p, &f);
    if (p == NULL) return NULL;
    col->kind = K_MIX;
    if (col->nfids > 0 && memcmp(&s->forms[col->fids[col->nfids - 1]], &f, sizeof f) == 0) {
        id = col->fids[col->nfids - 1];
    } else {
        id = form_id(s, &f);
        if (id < 0) return NULL;
    }
    if (col->nfids + 1 > col->fidcap && grow((void **)&col->fids, &col->fidcap, col->nfids + 1, sizeof(int32_t)) < 0)
        return NULL;
    col->fids[col->nfids++] = id;
    return p;
}

/* The result of a check-mode scan that read every record: (n, [(key, kind, forms, index),
 * ...], [(shape, size, flags), ...], offsets): for each key its kind ('m', or 's' for a
 * request's own string fields), the form of each value it holds (an int32 index into the
 * list of forms, shape None for a tensor object of values alone) and the records that
 * hold it (None: all); key None for a key that is not UTF-8; offsets the int64 offset of
 * each record's '{'. NULL with an exception. */
static PyObject *build_check(const Scan *s) {
    PyObject *cols = PyList_New(s->ncols), *forms = NULL, *offs = NULL;
    Py_ssize_t j;
    if (cols == NULL) return NULL;
    for (j = 0; j < s->ncols; j++) {
        const Col *col = &s->cols[j];
        PyObject *key = key_name(col), *fids, *index, *item;
        if (key == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) goto fail;
            PyErr_Clear();
            key = Py_None;
            Py_INCREF(key);
        }
        fids = PyByteArray_FromStringAndSize(col->nfids ? (const char *)col->fids : "",
                                             col->nfids * (Py_ssize_t)sizeof(int32_t));
        if (col->present != s->nrec)
            index = PyByteArray_FromStringAndSize((const char *)col->index, col->nindex * (Py_ssize_t)sizeof(int64_t));
        else {
            index = Py_None;
            Py_INCREF(index);
        }
        if (fids == NULL || index == NULL) {
            Py_DECREF(key);
            Py_XDECREF(fids);
            Py_XDECREF(index);
            goto fail;
        }
        item = Py_BuildValue("(NiNN)", key, col->kind, fids, index);
        if (item == NULL) goto fail;
        PyList_SET_ITEM(cols, j, item);
    }
    forms = PyList_New(s->nforms);
    if (forms == NULL) goto fail;
    for (j = 0; j < s->nforms; j++) {
        const Form *f = &s->forms[j];
        PyObject *shape, *item;
        int d;
        if (f->rank < 0) {
            shape = Py_None;
            Py_INCREF(shape);
        } else {
            shape = PyTuple_New(f->rank);
            for (d = 0; shape != NULL && d < f->rank; d++) {
                PyObject *x = PyLong_FromLongLong(f->dims[d]);
                if (x == NULL) {
                    Py_CLEAR(shape);
                    break;
                }
                PyTuple_SET_ITEM(shape, d, x);
            }
            if (shape == NULL) goto fail;
        }
        item = Py_BuildValue("(NLi)", shape, (long long)f->size, (int)f->flags);
        if (item == NULL) goto fail;
        PyList_SET_ITEM(forms, j, item);
    }
    offs = PyByteArray_FromStringAndSize(s->noffs ? (const char *)s->offs : "", s->noffs * (Py_ssize_t)sizeof(int64_t));
    if (offs == NULL) goto fail;
    return Py_BuildValue("(nNNN)", s->nrec, cols, forms, offs);
fail:
    Py_XDECREF(forms);
    Py_DECREF(cols);
    return NULL;
}

/* What a declined scan read (`report`): (None, k, [(key, kind), ...], at, readable), k the
 * record it stopped in (the records before it were read whole; the body's count when it
 * stopped after them), the columns of those records as far as read (kind 0: the value that
 * stopped it), `at` the offset of record k's '{' (-1: record k not begun, as when the
 * scan stopped after the record before it), `readable` 1 when the last value begun in
 * record k is one the grammar reads (read_form; 0 in check mode). NULL with an exception. */
static PyObject *declined(const Scan *s) {
    PyObject *cols = PyList_New(s->ncols);
    Py_ssize_t j;
    if (cols == NULL) return NULL;
    for (j = 0; j < s->ncols; j++) {
        PyObject *key = key_name(&s->cols[j]), *item;
        if (key == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                Py_DECREF(cols);
                return NULL;
            }
            PyErr_Clear();
            key = Py_None; /* a key that is not UTF-8 */
            Py_INCREF(key);
        } else if (!strings_ok(s, &s->cols[j])) {
            Py_DECREF(key); /* a string the general path refuses: as a key that is not UTF-8 */
            key = Py_None;
            Py_INCREF(key);
        }
        item = Py_BuildValue("(Ni)", key, s->cols[j].kind);
        if (item == NULL) {
            Py_DECREF(cols);
            return NULL;
        }
        PyList_SET_ITEM(cols, j, item);
    }
    {
        /* whether the value the scan stopped in is one the grammar reads (a column's
         * conflict: a check-mode reading may find the column error) */
        Form f;
        int readable = !s->check && s->rec_at != NULL && s->rec_n == s->nrec && s->val_at != NULL &&
                       read_form((Scan *)s, s->val_at, &f) != NULL;
        return Py_BuildValue("(OnNnii)", Py_None, s->nrec, cols,
                             s->rec_at != NULL && s->rec_n == s->nrec ? s->rec_at - s->base : (Py_ssize_t)-1,
                             readable, s->full);
    }
}

PyDoc_STRVAR(json_records_doc,
             "json_records(data, start, stop, lines, request=False, texts=False, allow_nan=False,\n"
             "             lists=False, report=False, check=False)\n"
             "    -> (n, [(key, kind, payload, width, index), ...]) | None\n\n"
             "Read data[start:stop] as JSON response records of scalars (module docstring, Rule 1):\n"
             "a JSON array of flat objects, bare or in a predictions / projections / scores\n"
             "envelope (request true: an instances envelope), or (lines true) one flat object per\n"
             "line. One entry per key, in the order keys first appear; m is the number of records\n"
             "that hold the key: kind 'n' (numbers: payload a bytearray of m float64), 'v' (lists of\n"
             "`width` numbers: m * width float64), 'r' (numbers and lists of any length: payload\n"
             "(values, counts), a bytearray of float64 and one of m int64, -1 for a number) or\n"
             "'s' (strings: payload a list of m str; texts true: the m strings as UTF-8 joined by\n"
             "'\\n', a bytes object, or the list where a string holds a '\\n'). index is None when\n"
             "every record holds the key (m == n), else a bytearray of the m records' int64 indices.\n"
             "With allow_nan, NaN, Infinity and -Infinity are numbers too (Rule 2).\n"
             "Requests also read data and label objects (keys 'data\\0name', 'label\\0name'),\n"
             "tensor objects and sparse records (kind 'k': (values, keys, counts, shape)), and\n"
             "lists of strings (kind 'S': a list of each record's list of str), which responses\n"
             "read with lists true (Rule 1).\n"
             "None when the body is anything else; with report, (None, k, [(key, kind), ...], at,\n"
             "readable, full): the record the scan stopped in, the keys read before (kind 0: the\n"
             "last one's value stopped it), the offset where record k begins (-1: none), for the\n"
             "general path's search of the first error, whether the value it stopped in is one\n"
             "the grammar reads (a column's conflict: worth a check-mode reading), and whether it\n"
             "stopped at a new key past the 4096 columns it reads (uid, metadata, configuration\n"
             "not counted).\n"
             "With check (report implied), the scan reads every value as the general path's\n"
             "grammar does and keeps only its form: (n, [(key, kind, forms, index), ...],\n"
             "[(shape, size, flags), ...], offsets) when it reads every record (Rule 7), else\n"
             "the report above.");

static PyObject *json_records(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t start, stop, j;
    int lines, ok, request = 0, texts = 0, allow_nan = 0, lists = 0, report = 0, check = 0, nomem = 0;
    Scan s;
    PyObject *out = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnp|pppppp", &data, &start, &stop, &lines, &request, &texts, &allow_nan, &lists,
                          &report, &check))
        return NULL;
    if (check) report = 1;
    if (start < 0 || stop > data.len || start > stop) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "json_records: bad bounds");
        return NULL;
    }
    memset(&s, 0, sizeof(s));
    s.base = (const char *)data.buf;
    s.end = s.base + stop;
    s.lines = lines;
    s.request = request;
    s.lists = request || lists;
    s.grammar = allow_nan ? SMP_JSON_NAN : SMP_JSON;
    s.check = check;
    s.empties = !texts && !check;
    s.cols = (Col *)calloc(FIRST_COLS, sizeof(Col));
    s.colcap = FIRST_COLS;
    s.slots = (int16_t *)malloc(SLOTS * sizeof(int16_t));
    if (s.cols == NULL || s.slots == NULL) {
        free(s.cols);
        free(s.slots);
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    memset(s.slots, 0xFF, SLOTS * sizeof(int16_t));
    /* 4 probes per byte of the body and 4 per possible key: a key costs one or two */
    s.budget = stop - start > PY_SSIZE_T_MAX / 8 ? PY_SSIZE_T_MAX / 2 : 4 * (stop - start) + 4 * MAX_KEYS;
    gil_release(&s.g);
    ok = scan_body(&s, s.base + start);
    gil_take(&s.g);
    for (j = 0; ok && j < s.ncols; j++) {
        Col *col = &s.cols[j];
        /* a label whose every value is a tensor object of one value (no shape) is a
         * scalar, as the general path reads it (and as the protobuf layout writes one); a
         * response's keys are its label's */
        if (!check && (col->ctx == CTX_LABEL || (!request && col->ctx == CTX_TOP)) && col->kind == K_VEC &&
            col->width == 1 && col->wrapped == col->present)
            col->kind = K_NUM;
        /* a column the last records lack has no index yet when only they lack it */
        if (s.cols[j].present != s.nrec && open_index(&s.cols[j]) < 0) {
            PyErr_NoMemory();
            ok = 0;
            nomem = 1;
        }
    }
    if (ok && check) {
        out = build_check(&s);
        if (out == NULL) nomem = 1;
    } else if (ok) {
        out = build(&s, texts);
        if (out == NULL && !PyErr_Occurred()) ok = 0;
    }
    if (!ok && report && !nomem) {
        out = declined(&s);
        if (out == NULL) nomem = 1;
    }
    for (j = 0; j < s.ncols; j++) {
        free(s.cols[j].vals);
        free(s.cols[j].spans);
        free(s.cols[j].counts);
        free(s.cols[j].index);
        free(s.cols[j].keys);
        free(s.cols[j].fids);
    }
    free(s.cols);
    free(s.slots);
    free(s.forms);
    free(s.fslots);
    free(s.offs);
    free(s.tmp);
    PyBuffer_Release(&data);
    if (nomem) return NULL;
    if (!ok && !report) Py_RETURN_NONE;
    return out;
}

/* ------------------------------------------------------------------------------------
 * Per-record output dicts that orjson can write as they are
 * ------------------------------------------------------------------------------------ */

/* Column kinds of dict_rows. */
enum { D_FLOAT = 'f', D_INT = 'i', D_STR = 's', D_FLOATS = 'F', D_INTS = 'I', D_F64 = 'd', D_F32 = 'e' };

static int int32_value(PyObject *v) {
    int overflow = 0;
    long long x;
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)v)) {
        Py_ssize_t c = PyUnstable_Long_CompactValue((PyLongObject *)v);
        return c >= -2147483648LL && c <= 2147483647LL;
    }
#else
    {
        /* an int of at most one digit (15 or 30 bits) is in the int32 range */
        Py_ssize_t size = Py_SIZE(v);
        if (size >= -1 && size <= 1) return 1;
    }
#endif
    x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    return x >= -2147483648LL && x <= 2147483647LL;
}

/* The kind of one value (0: none of them; lists checked to their end). */
static int value_kind(PyObject *v, PyObject *f64, PyObject *f32, Py_ssize_t *width) {
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyFloat_Type) return isfinite(PyFloat_AS_DOUBLE(v)) ? D_FLOAT : 0;
    if (t == &PyLong_Type) return int32_value(v) ? D_INT : 0;
    if (t == &PyUnicode_Type) return D_STR;
    if ((PyObject *)t == f64) return isfinite(PyFloat_AS_DOUBLE(v)) ? D_F64 : 0;
    if ((PyObject *)t == f32) {
        double d = PyFloat_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        return isfinite(d) ? D_F32 : 0;
    }
    if (t == &PyList_Type) {
        Py_ssize_t n = PyList_GET_SIZE(v), i;
        int k = 0;
        *width = n;
        if (n == 0) return 0;
        for (i = 0; i < n; i++) {
            PyObject *x = PyList_GET_ITEM(v, i);
            int xk;
            if (Py_TYPE(x) == &PyFloat_Type)
                xk = isfinite(PyFloat_AS_DOUBLE(x)) ? D_FLOATS : 0;
            else if (Py_TYPE(x) == &PyLong_Type)
                xk = int32_value(x) ? D_INTS : 0;
            else
                xk = 0;
            if (xk == 0 || (k && xk != k)) return 0;
            k = xk;
        }
        return k;
    }
    return 0;
}

/* One value of kind `kind` written at *dst (advanced); 0, or -1 when it is not one. */
static int put_value(PyObject *v, char kind, Py_ssize_t width, char **dst) {
    Py_ssize_t w;
    if (kind == 'F' || kind == 'I') {
        if (Py_TYPE(v) != &PyList_Type || PyList_GET_SIZE(v) != width) return -1;
        for (w = 0; w < width; w++)
            if (put_value(PyList_GET_ITEM(v, w), kind == 'F' ? 'f' : 'i', 1, dst) < 0) return -1;
        return 0;
    }
    if (kind == 'f' || kind == 'd') {
        double d;
        if (!PyFloat_Check(v)) return -1;
        d = PyFloat_AS_DOUBLE(v);
        memcpy(*dst, &d, 8);
        *dst += 8;
        return 0;
    }
    if (kind == 'e') {
        double d = PyFloat_AsDouble(v);
        float f;
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
        f = (float)d; /* a float32 scalar's value: exact */
        memcpy(*dst, &f, 4);
        *dst += 4;
        return 0;
    }
    if (kind == 'i') {
        int32_t x32;
        if (Py_TYPE(v) != &PyLong_Type || !int32_value(v)) return -1;
        x32 = (int32_t)PyLong_AsLongLong(v);
        memcpy(*dst, &x32, 4);
        *dst += 4;
        return 0;
    }
    return -1;
}

PyDoc_STRVAR(dict_rows_doc,
             "dict_rows(rows, float64_type, float32_type, columns=False) -> str | tuple | None\n\n"
             "The column kinds (one character per key of rows[0], in its order) when `rows`, a\n"
             "list, holds only dicts with the same str keys in the same order and every key holds\n"
             "one kind of value in every record: 'f' finite Python float, 'i' Python int in the\n"
             "int32 range, 's' str, 'd' / 'e' finite numpy float64 / float32 scalar, 'F' / 'I'\n"
             "non-empty lists of one length of finite floats / int32-range ints. None otherwise\n"
             "(empty list, other types, NaN or an infinity anywhere). With `columns`, (kinds,\n"
             "columns): one bytearray per key, float64 values for 'f', 'd', 'F' (n * width),\n"
             "float32 for 'e', int32 for 'i', 'I', and None for 's'.");

static PyObject *dict_rows(PyObject *self, PyObject *args) {
    PyObject *rows, *f64, *f32, *first, *keys = NULL, *out = NULL, *cols = NULL;
    Py_ssize_t n, k, i, j;
    char *kinds = NULL;
    char **dst = NULL;
    Py_ssize_t *widths = NULL;
    int columns = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!OO|p", &PyList_Type, &rows, &f64, &f32, &columns)) return NULL;
    n = PyList_GET_SIZE(rows);
    if (n == 0) Py_RETURN_NONE;
    first = PyList_GET_ITEM(rows, 0);
    if (Py_TYPE(first) != &PyDict_Type) Py_RETURN_NONE;
    k = PyDict_GET_SIZE(first);
    if (k == 0 || k > MAX_KEYS) Py_RETURN_NONE;
    keys = PyTuple_New(k);
    kinds = (char *)PyMem_Malloc((size_t)k + 1);
    widths = (Py_ssize_t *)PyMem_Malloc((size_t)k * sizeof(Py_ssize_t));
    dst = (char **)PyMem_Calloc((size_t)k, sizeof(char *));
    if (keys == NULL || kinds == NULL || widths == NULL || dst == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    {
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        j = 0;
        while (PyDict_Next(first, &pos, &key, &value)) {
            if (Py_TYPE(key) != &PyUnicode_Type) goto decline;
            Py_INCREF(key);
            PyTuple_SET_ITEM(keys, j, key);
            widths[j] = 1;
            kinds[j] = (char)value_kind(value, f64, f32, &widths[j]);
            if (kinds[j] == 0) goto decline;
            j++;
        }
    }
    if (columns) {
        cols = PyList_New(k);
        if (cols == NULL) goto fail;
        for (j = 0; j < k; j++) {
            char kind = kinds[j];
            Py_ssize_t item = (kind == D_FLOAT || kind == D_F64 || kind == D_FLOATS) ? 8 : 4, width = 1;
            PyObject *col;
            if (kind == D_STR) {
                Py_INCREF(Py_None);
                PyList_SET_ITEM(cols, j, Py_None);
                continue;
            }
            if (kind == D_FLOATS || kind == D_INTS) width = widths[j];
            if (n > PY_SSIZE_T_MAX / width / item) goto decline;
            col = PyByteArray_FromStringAndSize(NULL, n * width * item);
            if (col == NULL) goto fail;
            PyList_SET_ITEM(cols, j, col);
            dst[j] = PyByteArray_AS_STRING(col);
        }
    }
    for (i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i), *key, *value;
        Py_ssize_t pos = 0;
        if (Py_TYPE(row) != &PyDict_Type || PyDict_GET_SIZE(row) != k) goto decline;
        j = 0;
        while (PyDict_Next(row, &pos, &key, &value)) {
            PyObject *want = PyTuple_GET_ITEM(keys, j);
            Py_ssize_t w = 0;
            if (key != want) {
                int eq;
                if (Py_TYPE(key) != &PyUnicode_Type) goto decline;
                eq = PyUnicode_Compare(key, want) == 0;
                if (PyErr_Occurred()) goto fail;
                if (!eq) goto decline;
            }
            if (i > 0) {
                if (value_kind(value, f64, f32, &w) != kinds[j]) goto decline;
                if ((kinds[j] == D_FLOATS || kinds[j] == D_INTS) && w != widths[j]) goto decline;
            }
            if (dst[j] != NULL && put_value(value, kinds[j], widths[j], &dst[j]) < 0) goto decline;
            j++;
        }
    }
    out = PyUnicode_FromStringAndSize(kinds, k);
    if (out != NULL && columns) out = Py_BuildValue("(NN)", out, cols), cols = NULL;
    goto done;
decline:
    out = Py_None;
    Py_INCREF(out);
    goto done;
fail:
    out = NULL;
done:
    Py_XDECREF(cols);
    Py_XDECREF(keys);
    PyMem_Free(kinds);
    PyMem_Free(widths);
    PyMem_Free(dst);
    return out;
}

/* ------------------------------------------------------------------------------------
 * CSV response rows from one text per column
 * ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(join_lines_doc,
             "join_lines(texts, n) -> bytes | None\n\n"
             "Each of `texts` (bytes) holds n lines separated by '\\n' (none after the last): the\n"
             "n lines of the result are line i of every text joined by ',', each ending with\n"
             "'\\n'. None when a text has another number of lines.");

static PyObject *join_lines(PyObject *self, PyObject *args) {
    PyObject *texts, *out = NULL;
    Py_ssize_t n, k, j, i, total = 0;
    const char **cur = NULL, **stop = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t got = 0;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &texts, &n)) return NULL;
    k = PyList_GET_SIZE(texts);
    if (k < 1 || n < 1) Py_RETURN_NONE;
    views = (Py_buffer *)PyMem_Calloc((size_t)k, sizeof(Py_buffer));
    cur = (const char **)PyMem_Malloc((size_t)k * sizeof(char *));
    stop = (const char **)PyMem_Malloc((size_t)k * sizeof(char *));
    if (views == NULL || cur == NULL || stop == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (j = 0; j < k; j++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(texts, j), &views[j], PyBUF_SIMPLE) < 0) goto done;
        got++;
        cur[j] = (const char *)views[j].buf;
        stop[j] = cur[j] + views[j].len;
        if (views[j].len > PY_SSIZE_T_MAX - total - 1) {
            ok = 0;
            goto done;
        }
        total += views[j].len + 1; /* its n - 1 newlines become separators, plus one */
    }
    /* each text gives its bytes, its n - 1 newlines turned into separators, and one more */
    out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) goto done;
    {
        char *dst = PyBytes_AS_STRING(out);
        char *dend = dst + PyBytes_GET_SIZE(out);
        PyThreadState *ts = PyEval_SaveThread();
        for (i = 0; ok && i < n; i++) {
            for (j = 0; j < k; j++) {
                const char *p = cur[j], *nl;
                Py_ssize_t len;
                if (i + 1 < n) {
                    nl = (const char *)memchr(p, '\n', (size_t)(stop[j] - p));
                    if (nl == NULL) {
                        ok = 0;
                        break;
                    }
                } else {
                    nl = stop[j];
                    if (memchr(p, '\n', (size_t)(stop[j] - p)) != NULL) {
                        ok = 0;
                        break;
                    }
                }
                len = nl - p;
                if (dend - dst < len + 1) {
                    ok = 0;
                    break;
                }
                memcpy(dst, p, (size_t)len);
                dst += len;
                *dst++ = j + 1 < k ? ',' : '\n';
                cur[j] = nl < stop[j] ? nl + 1 : nl;
            }
        }
        PyEval_RestoreThread(ts);
        if (ok && dst != dend) ok = 0;
    }
done:
    for (j = 0; j < got; j++) PyBuffer_Release(&views[j]);
    PyMem_Free(views);
    PyMem_Free(cur);
    PyMem_Free(stop);
    if (PyErr_Occurred()) {
        Py_XDECREF(out);
        return NULL;
    }
    if (!ok) {
        Py_XDECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

/* ------------------------------------------------------------------------------------
 * A str array from lines of UTF-8
 * ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(ucs4_lines_doc,
             "ucs4_lines(text, n) -> (bytearray, width) | None\n\n"
             "The n lines of `text` (UTF-8, lines separated by '\\n', none after the last) as the\n"
             "buffer of numpy's '<U{width}' array of them, width the most code points of a line\n"
             "(at least 1): what np.array(text.decode().split('\\n'), dtype=str) holds, without a\n"
             "str per line. None when `text` is not UTF-8 or has another number of lines.");

static PyObject *ucs4_lines(PyObject *self, PyObject *args) {
    Py_buffer text;
    Py_ssize_t n, lines = 1, width = 1, cur = 0, i;
    const unsigned char *p, *end;
    PyObject *out = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &text, &n)) return NULL;
    p = (const unsigned char *)text.buf;
    end = p + text.len;
    if (n < 1 || !utf8_ok(p, text.len)) goto none;
    /* the lines and the most code points of one (a code point: a byte that is not a
     * continuation byte) */
    for (i = 0; i < text.len; i++) {
        unsigned char c = p[i];
        if (c == '\n') {
            if (cur > width) width = cur;
            cur = 0;
            lines++;
        } else if ((c & 0xC0) != 0x80) {
            cur++;
        }
    }
    if (cur > width) width = cur;
    if (lines != n) goto none;
    if (width > PY_SSIZE_T_MAX / 4 / n) {
        PyBuffer_Release(&text);
        return PyErr_NoMemory();
    }
    out = PyByteArray_FromStringAndSize(NULL, n * width * 4);
    if (out == NULL) {
        PyBuffer_Release(&text);
        return NULL;
    }
    {
        uint32_t *row = (uint32_t *)PyByteArray_AS_STRING(out), *o = row;
        memset(row, 0, (size_t)(n * width * 4));
        while (p < end) {
            unsigned char c = *p;
            uint32_t cp;
            if (c == '\n') {
                row += width;
                o = row;
                p++;
                continue;
            }
            if (c < 0x80) {
                cp = c;
                p++;
            } else if (c < 0xE0) {
                cp = ((uint32_t)(c & 0x1F) << 6) | (p[1] & 0x3F);
                p += 2;
            } else if (c < 0xF0) {
                cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
                p += 3;
            } else {
                cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
                     (p[3] & 0x3F);
                p += 4;
            }
            *o++ = cp;
        }
    }
    PyBuffer_Release(&text);
    return Py_BuildValue("(Nn)", out, width);
none:
    PyBuffer_Release(&text);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------------------
 * JSON Lines from the JSON array of the same objects
 * ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(array_lines_doc,
             "array_lines(text) -> bytes | None\n\n"
             "The objects of `text`, a JSON array of objects whose only '}' bytes end them (as\n"
             "orjson writes objects of numbers and lists of numbers under keys without '}'), one\n"
             "per line: the '[' dropped, the byte after each '}' (',' or the final ']') turned\n"
             "into '\\n'. None when `text` is not such an array.");

static PyObject *array_lines(PyObject *self, PyObject *args) {
    Py_buffer text;
    PyObject *out = NULL;
    int ok = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &text)) return NULL;
    if (text.len < 3 || ((const char *)text.buf)[0] != '[' || ((const char *)text.buf)[text.len - 1] != ']' ||
        ((const char *)text.buf)[1] != '{') {
        PyBuffer_Release(&text);
        Py_RETURN_NONE;
    }
    out = PyBytes_FromStringAndSize((const char *)text.buf + 1, text.len - 1);
    if (out != NULL) {
        char *p = PyBytes_AS_STRING(out), *end = p + PyBytes_GET_SIZE(out);
        PyThreadState *ts = PyEval_SaveThread();
        while (p < end) {
            char *c = (char *)memchr(p, '}', (size_t)(end - p));
            if (c == NULL) break;
            if (c + 1 >= end || (c[1] != ',' && c + 2 != end) || (c[1] == ',' && (c + 2 >= end || c[2] != '{'))) {
                ok = 0;
                break;
            }
            c[1] = '\n';
            p = c + 2;
        }
        PyEval_RestoreThread(ts);
        if (ok && end[-1] != '\n') ok = 0;
        if (!ok) Py_CLEAR(out);
    }
    PyBuffer_Release(&text);
    if (out == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return out;
}

/* ------------------------------------------------------------------------------------
 * Rows of a response from one text per column
 * ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(join_rows_doc,
             "join_rows(texts, n, sep, heads, row_sep) -> bytes | None\n\n"
             "Each of the k `texts` (bytes) holds n fields separated by the byte `sep` (an int; none\n"
             "after the last field). Row i is heads[0] + field i of texts[0] + heads[1] + ... +\n"
             "field i of texts[k-1] + heads[k] (k + 1 heads), and the rows are joined by\n"
             "`row_sep`. None when a text has another number of fields.");

static PyObject *join_rows(PyObject *self, PyObject *args) {
    PyObject *texts, *heads, *out = NULL, *ht = NULL;
    Py_buffer rs;
    Py_ssize_t n, k, j, i, total = 0, hsum = 0;
    int sep, ok = 1;
    const char **cur = NULL, **stop = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t got = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!niO!y*", &PyList_Type, &texts, &n, &sep, &PyList_Type, &heads, &rs)) return NULL;
    k = PyList_GET_SIZE(texts);
    if (k < 1 || n < 1 || PyList_GET_SIZE(heads) != k + 1 || sep < 0 || sep > 255) {
        PyBuffer_Release(&rs);
        Py_RETURN_NONE;
    }
    ht = PyList_AsTuple(heads); /* ours while the GIL is released */
    if (ht == NULL) {
        PyBuffer_Release(&rs);
        return NULL;
    }
    for (j = 0; j <= k; j++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(ht, j))) {
            PyBuffer_Release(&rs);
            Py_DECREF(ht);
            PyErr_SetString(PyExc_TypeError, "join_rows: heads must be bytes");
            return NULL;
        }
        hsum += PyBytes_GET_SIZE(PyTuple_GET_ITEM(ht, j));
    }
    views = (Py_buffer *)PyMem_Calloc((size_t)k, sizeof(Py_buffer));
    cur = (const char **)PyMem_Malloc((size_t)k * sizeof(char *));
    stop = (const char **)PyMem_Malloc((size_t)k * sizeof(char *));
    if (views == NULL || cur == NULL || stop == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (j = 0; j < k; j++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(texts, j), &views[j], PyBUF_SIMPLE) < 0) goto done;
        got++;
        cur[j] = (const char *)views[j].buf;
        stop[j] = cur[j] + views[j].len;
        /* n fields hold n - 1 separators: a shorter text declines here, so total never
         * goes negative (a huge n cannot overflow it) */
        if (views[j].len < n - 1 || views[j].len > PY_SSIZE_T_MAX / 4 - total) {
            ok = 0;
            goto done;
        }
        total += views[j].len - (n - 1); /* the fields without their separators */
    }
    if (total < 0 || hsum > (PY_SSIZE_T_MAX / 4) / n || rs.len > (PY_SSIZE_T_MAX / 4) / n) {
        ok = 0;
        goto done;
    }
    total += n * hsum + (n - 1) * rs.len;
    out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) goto done;
    {
        char *dst = PyBytes_AS_STRING(out);
        char *dend = dst + PyBytes_GET_SIZE(out);
        PyThreadState *ts = PyEval_SaveThread();
        for (i = 0; ok && i < n; i++) {
            if (i > 0) {
                if (dend - dst < rs.len) {
                    ok = 0;
                    break;
                }
                memcpy(dst, rs.buf, (size_t)rs.len);
                dst += rs.len;
            }
            for (j = 0; j <= k; j++) {
                PyObject *h = PyTuple_GET_ITEM(ht, j);
                Py_ssize_t hl = PyBytes_GET_SIZE(h);
                const char *p, *e;
                if (dend - dst < hl) {
                    ok = 0;
                    break;
                }
                memcpy(dst, PyBytes_AS_STRING(h), (size_t)hl);
                dst += hl;
                if (j == k) break;
                p = cur[j];
                if (i + 1 < n) {
                    e = (const char *)memchr(p, sep, (size_t)(stop[j] - p));
                    if (e == NULL) {
                        ok = 0;
                        break;
                    }
                } else {
                    e = stop[j];
                    if (memchr(p, sep, (size_t)(stop[j] - p)) != NULL) {
                        ok = 0;
                        break;
                    }
                }
                if (dend - dst < e - p) {
                    ok = 0;
                    break;
                }
                memcpy(dst, p, (size_t)(e - p));
                dst += e - p;
                cur[j] = e < stop[j] ? e + 1 : e;
            }
        }
        PyEval_RestoreThread(ts);
        if (ok && dst != dend) ok = 0;
    }
done:
    for (j = 0; j < got; j++) PyBuffer_Release(&views[j]);
    PyMem_Free(views);
    PyMem_Free(cur);
    PyMem_Free(stop);
    PyBuffer_Release(&rs);
    Py_XDECREF(ht);
    if (PyErr_Occurred()) {
        Py_XDECREF(out);
        return NULL;
    }
    if (!ok) {
        Py_XDECREF(out);
        Py_RETURN_NONE;
    }
    return out;
}

/* ---------------------------------------------------------------------------------------
 * json_valid: whether a text is certainly one JSON value that orjson (and so the general
 * path) parses, at about a byte a nanosecond, building nothing. Conservative (Rule 8):
 * 1 only for RFC 8259 JSON with UTF-8 strings, no \u escape of a surrogate, numbers of at
 * most 20 integer and 40 fraction digits with an exponent of at most 300 in size, below
 * 10**307 (so none is out of the float64 range; one that underflows reads as orjson reads
 * it), and nesting of at most 512; 0 for anything else, which
 * the caller leaves to orjson (0 is "not sure", never "invalid").
 * ------------------------------------------------------------------------------------- */

#define VALID_DEPTH 512

static inline const char *v_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* A string at p (on its '"'): the position after it, or NULL. */
static const char *v_string(const char *p, const char *end) {
    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (end - p < 2) return NULL;
            c = (unsigned char)p[1];
            if (c == 'u') {
                int v = hex4(p + 2, end);
                if (v < 0 || (v >= 0xD800 && v <= 0xDFFF)) return NULL;
                p += 6;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
                       c == 't') {
                p += 2;
            } else {
                return NULL;
            }
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        /* UTF-8: no overlong form, no surrogate, nothing past U+10FFFF */
        if (c >= 0xC2 && c <= 0xDF) {
            if (end - p < 2 || ((unsigned char)p[1] & 0xC0) != 0x80) return NULL;
            p += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            unsigned char c1;
            if (end - p < 3) return NULL;
            c1 = (unsigned char)p[1];
            if ((c1 & 0xC0) != 0x80 || ((unsigned char)p[2] & 0xC0) != 0x80) return NULL;
            if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) return NULL;
            p += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            unsigned char c1;
            if (end - p < 4) return NULL;
            c1 = (unsigned char)p[1];
            if ((c1 & 0xC0) != 0x80 || ((unsigned char)p[2] & 0xC0) != 0x80 || ((unsigned char)p[3] & 0xC0) != 0x80)
                return NULL;
            if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90)) return NULL;
            p += 4;
        } else {
            return NULL;
        }
    }
    return NULL;
}

/* A number at p: the position after it, or NULL (not JSON, or not surely in range). */
static const char *v_number(const char *p, const char *end) {
    int digits = 0, frac = 0, exp = 0, ed = 0, up = 1;
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit((unsigned char)*p)) {
            p++;
            digits++;
        }
        if (digits > 20) return NULL;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && is_digit((unsigned char)*p)) {
            p++;
            frac++;
        }
        if (frac == 0 || frac > 40) return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) up = *p++ == '+';
        while (p < end && is_digit((unsigned char)*p)) {
            if (++ed > 3) return NULL;
            exp = exp * 10 + (*p - '0');
            p++;
        }
        /* below 10**(digits + exp): within the float64 range up to 10**307 */
        if (ed == 0 || exp > 300 || (up && digits + exp > 307)) return NULL;
    }
    return p;
}

static int v_word(const char *p, const char *end, const char *w, Py_ssize_t n) {
    return end - p >= n && memcmp(p, w, (size_t)n) == 0;
}

/* 1 when certainly valid (*members: the top-level object's members, -1 when the value is
 * no object), else 0. */
static int valid_json(const char *p, const char *end, Py_ssize_t *members) {
    char stack[VALID_DEPTH];
    int depth = 0;
    p = v_ws(p, end);
    *members = p < end && *p == '{' ? 0 : -1;
    for (;;) {
        /* a value at p */
        if (p >= end) return 0;
        switch (*p) {
        case '{':
        case '[':
            if (depth >= VALID_DEPTH) return 0;
            stack[depth++] = *p;
            p = v_ws(p + 1, end);
            if (p < end && (*p == (stack[depth - 1] == '{' ? '}' : ']'))) {
                depth--;
                p++;
                goto after;
            }
            if (stack[depth - 1] == '{') {
                if (p >= end || *p != '"') return 0;
                p = v_string(p, end);
                if (p == NULL) return 0;
                p = v_ws(p, end);
                if (p >= end || *p != ':') return 0;
                p = v_ws(p + 1, end);
                if (depth == 1) *members = 1;
            }
            continue;
        case '"':
            p = v_string(p, end);
            break;
        case 't':
            p = v_word(p, end, "true", 4) ? p + 4 : NULL;
            break;
        case 'f':
            p = v_word(p, end, "false", 5) ? p + 5 : NULL;
            break;
        case 'n':
            p = v_word(p, end, "null", 4) ? p + 4 : NULL;
            break;
        default:
            p = v_number(p, end);
        }
        if (p == NULL) return 0;
    after:
        /* after a value: the end, or a separator of the container it is in */
        p = v_ws(p, end);
        if (depth == 0) return p == end;
        if (p >= end) return 0;
        if (*p == ',') {
            p = v_ws(p + 1, end);
            if (depth == 1 && *members >= 0) (*members)++;
            if (stack[depth - 1] == '{') {
                if (p >= end || *p != '"') return 0;
                p = v_string(p, end);
                if (p == NULL) return 0;
                p = v_ws(p, end);
                if (p >= end || *p != ':') return 0;
                p = v_ws(p + 1, end);
            }
            continue;
        }
        if (*p != (stack[depth - 1] == '{' ? '}' : ']')) return 0;
        depth--;
        p++;
        goto after;
    }
}

PyDoc_STRVAR(json_valid_doc,
             "json_valid(data, start, stop) -> int\n\n"
             "Whether data[start:stop] is certainly one JSON value that orjson parses (RFC 8259,\n"
             "UTF-8 strings, no \\u escape of a surrogate, numbers of at most 20 integer and 40\n"
             "fraction digits and an exponent of at most 300, nesting of at most 512): -2 when\n"
             "not sure, else the number of members of the top-level object (-1: the value is no\n"
             "object). The GIL is released while it reads.");

static PyObject *json_valid(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t start, stop, members = -1;
    int ok;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &start, &stop)) return NULL;
    if (start < 0 || stop > data.len || start > stop) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "json_valid: bad bounds");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS ok = valid_json((const char *)data.buf + start, (const char *)data.buf + stop, &members);
    Py_END_ALLOW_THREADS PyBuffer_Release(&data);
    return PyLong_FromSsize_t(ok ? members : -2);
}

static PyMethodDef methods[] = {
    {"join_rows", join_rows, METH_VARARGS, join_rows_doc},
    {"array_lines", array_lines, METH_VARARGS, array_lines_doc},
    {"ucs4_lines", ucs4_lines, METH_VARARGS, ucs4_lines_doc},
    {"join_lines", join_lines, METH_VARARGS, join_lines_doc},
    {"json_records", json_records, METH_VARARGS, json_records_doc},
    {"dict_rows", dict_rows, METH_VARARGS, dict_rows_doc},
    {"json_valid", json_valid, METH_VARARGS, json_valid_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sm_payloads.formats._cjsonrec",
    "JSON response records column by column, and output dicts written as they are (optional accelerator).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__cjsonrec(void) { return PyModule_Create(&module); }
